/**
 * Token balances of many holders at one block, in few round trips: through Multicall3's
 * `aggregate3`, hundreds of `balanceOf` calls to one `eth_call`, where the chain has Multicall3
 * at that block; one `balanceOf` call per holder where it has not, or where the batch fails.
 * Either way the answer is the chain's at that block; only the number of calls differs.
 */
import { type Address, decodeFunctionResult, encodeFunctionData, erc20Abi, getAddress, type Hex, hexToBigInt, multicall3Abi, size, zeroAddress } from 'viem';
import { errorSummary } from '../platform/log.js';
import type { ChainClient } from './client.js';

/**
 * `balanceOf` calls per `aggregate3`. Each costs about 6,600 gas inside the batch (measured on
 * anvil with an OpenZeppelin ERC-20: a cold storage read of the holder's balance, the call and
 * the result's copy), so 500 are about 3.3M gas: a ninth of the 30M that nodes and providers
 * commonly cap an `eth_call` at, leaving room for tokens that do more per `balanceOf` (a proxy's
 * delegate call, an issuer's extra checks). The request is about 110 kB and the answer less.
 */
export const MULTICALL_BATCH = 500;
/** `aggregate3` calls in flight at once: enough to overlap round trips, few enough not to crowd the node. */
const MULTICALL_CONCURRENCY = 4;
/** `balanceOf` calls in flight at once when reading one by one. */
const SINGLE_CALL_CONCURRENCY = 16;

/** `balanceOf(holder)` calldata is its selector and the holder padded to 32 bytes: built by hand, it costs nothing per call. */
const BALANCE_OF_SELECTOR = encodeFunctionData({ abi: erc20Abi, functionName: 'balanceOf', args: [zeroAddress] }).slice(0, 10);

export interface BalancePair {
  token: Address;
  holder: Address;
}

export interface ReadBalancesOptions {
  /** Multicall3's address; undefined: one call per balance. */
  multicall?: Address | undefined;
  /** `balanceOf` calls per `aggregate3`; default {@link MULTICALL_BATCH}. */
  batch?: number;
}

export interface BalanceReading {
  /** `token.balanceOf(holder)` of each pair, in the order of the pairs. */
  balances: bigint[];
  via: 'multicall3' | 'single_calls';
  /** Why the balances were read one by one. */
  reason?: string;
}

/**
 * `token.balanceOf(holder)` of every pair at block `atBlock`, in the order of `pairs`.
 *
 * A sub-call of a batch that fails (or answers anything but one 32-byte word: a "token" with no
 * code answers nothing and succeeds) is asked again on its own, and an error naming the token,
 * holder and block is thrown if that fails too. A batch that fails as a whole (a node's gas cap,
 * a response too large, a timeout) ends batching: what is still unread is read one by one, and
 * the reading says why.
 */
export async function readBalances(
  chain: ChainClient,
  pairs: readonly BalancePair[],
  atBlock: bigint,
  options: ReadBalancesOptions = {},
): Promise<BalanceReading> {
  const balances: (bigint | undefined)[] = new Array(pairs.length).fill(undefined);
  const single = async (reason: string): Promise<BalanceReading> => {
    const unread = pairs.flatMap((_, index) => (balances[index] === undefined ? [index] : []));
    await inPool(unread, SINGLE_CALL_CONCURRENCY, async (index) => {
      balances[index] = await balanceOf(chain, pairs[index]!, atBlock);
    });
    return { balances: balances as bigint[], via: 'single_calls', reason };
  };

  const multicall = options.multicall;
  if (multicall === undefined) return single('MULTICALL3_ADDRESS not set');
  if (pairs.length === 0) return { balances: [], via: 'multicall3' };
  // At the run's block, not the head: a contract placed later cannot answer for an earlier block.
  const code = await chain.getCode({ address: multicall, blockNumber: atBlock });
  if (code === undefined || code === '0x') return single(`no Multicall3 at ${getAddress(multicall)} at block ${atBlock}`);

  const batch = options.batch ?? MULTICALL_BATCH;
  const batches = Array.from({ length: Math.ceil(pairs.length / batch) }, (_, index) => index * batch);
  let failed: { error: unknown } | undefined;
  await inPool(batches, MULTICALL_CONCURRENCY, async (start) => {
    if (failed) return;
    const indexes = pairs.slice(start, start + batch).map((_, offset) => start + offset);
    let results: readonly { success: boolean; returnData: Hex }[];
    try {
      results = await aggregate3(
        chain,
        multicall,
        indexes.map((index) => pairs[index]!),
        atBlock,
      );
    } catch (error) {
      failed ??= { error };
      return;
    }
    const retried: number[] = [];
    indexes.forEach((index, offset) => {
      const result = results[offset]!;
      if (result.success && size(result.returnData) === 32) balances[index] = hexToBigInt(result.returnData);
      else retried.push(index);
    });
    for (const index of retried) balances[index] = await balanceOf(chain, pairs[index]!, atBlock);
  });
  if (failed) return single(`Multicall3 call failed: ${errorSummary(failed.error).message}`);
  return { balances: balances as bigint[], via: 'multicall3' };
}

async function aggregate3(
  chain: ChainClient,
  multicall: Address,
  pairs: readonly BalancePair[],
  atBlock: bigint,
): Promise<readonly { success: boolean; returnData: Hex }[]> {
  const data = encodeFunctionData({
    abi: multicall3Abi,
    functionName: 'aggregate3',
    args: [
      pairs.map(({ token, holder }) => ({
        target: token,
        allowFailure: true,
        callData: `${BALANCE_OF_SELECTOR}${holder.slice(2).toLowerCase().padStart(64, '0')}` as Hex,
      })),
    ],
  });
  const { data: answer } = await chain.call({ to: multicall, data, blockNumber: atBlock });
  if (answer === undefined) throw new Error('aggregate3 answered no data');
  const results = decodeFunctionResult({ abi: multicall3Abi, functionName: 'aggregate3', data: answer });
  if (results.length !== pairs.length) throw new Error(`aggregate3 answered ${results.length} results for ${pairs.length} calls`);
  return results;
}

async function balanceOf(chain: ChainClient, { token, holder }: BalancePair, atBlock: bigint): Promise<bigint> {
  try {
    return await chain.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [holder], blockNumber: atBlock });
  } catch (error) {
    throw new Error(`balanceOf(${getAddress(holder)}) of token ${getAddress(token)} at block ${atBlock} failed: ${errorSummary(error).message}`, {
      cause: error,
    });
  }
}

/** `work` on every item, at most `concurrency` at once; the first error is thrown once all that started have ended. */
export async function inPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length && errors.length === 0) {
      const item = items[next++]!;
      await work(item).catch((error: unknown) => errors.push(error));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
