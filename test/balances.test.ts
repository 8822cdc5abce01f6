/**
 * `readBalances` (src/chain/balances.ts) against a real anvil with the dev contracts and the
 * real Multicall3 at its canonical address: many pairs over several batches come back in the
 * order asked and equal to one call each; a Multicall3 address without code, none at all, and a
 * node that refuses a whole batch (its gas cap) are read one call each and say why; a sub-call
 * that fails is asked again alone and named when it fails again.
 *
 * The anvil is the file's own: one test lowers the block gas limit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Address, createTestClient, createWalletClient, getAddress, type Hex, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testHKDAbi } from '../contracts/artifacts/TestHKD.js';
import { type BalancePair, readBalances } from '../src/chain/balances.js';
import { type ChainClient, createChainClient } from '../src/chain/client.js';
import { type Anvil, DEV_CHAIN_ID, startAnvil } from '../src/dev/anvil.js';
import { type DevDeployments, ensureDevContracts } from '../src/dev/contracts.js';
import { CANONICAL_MULTICALL3 } from '../src/platform/config.js';

const HOLDERS = 30;

let workDir: string;
let anvil: Anvil;
let chain: ChainClient;
let deployments: DevDeployments;
let holders: Address[];
/** What each holder was minted of each token: a different amount each, so that an answer out of order shows. */
const minted = new Map<string, bigint>();
/** The block before anything was minted to the holders, and the block after. */
let beforeMint: bigint;
let afterMint: bigint;

const key = (pair: BalancePair) => `${pair.token}:${pair.holder}`;
const expected = (pairs: readonly BalancePair[]) => pairs.map((pair) => minted.get(key(pair)) ?? 0n);

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-balances-'));
  anvil = await startAnvil({ logFile: path.join(workDir, 'anvil.log') });
  chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 10_000 });
  const deployer = privateKeyToAccount(generatePrivateKey());
  deployments = await ensureDevContracts({
    chain,
    rpcUrl: anvil.rpcUrl,
    chainId: DEV_CHAIN_ID,
    deployer,
    payers: [],
    gasAccounts: [],
    recordFile: path.join(workDir, 'deployments.json'),
  });
  beforeMint = await chain.getBlockNumber({ cacheTime: 0 });
  holders = Array.from({ length: HOLDERS }, () => privateKeyToAccount(generatePrivateKey()).address);
  const wallet = createWalletClient({ account: deployer, transport: http(anvil.rpcUrl) });
  let nonce = await chain.getTransactionCount({ address: deployer.address, blockTag: 'pending' });
  const hashes: Hex[] = [];
  for (const [t, token] of deployments.tokens.entries()) {
    for (const [h, holder] of holders.entries()) {
      const amount = BigInt((t + 1) * 1_000_000 + h + 1);
      minted.set(key({ token, holder }), amount);
      hashes.push(await wallet.writeContract({ address: token, abi: testHKDAbi, functionName: 'mint', args: [holder, amount], chain: null, nonce: nonce++ }));
    }
  }
  for (const hash of hashes) expect((await chain.waitForTransactionReceipt({ hash, pollingInterval: 50 })).status).toBe('success');
  afterMint = await chain.getBlockNumber({ cacheTime: 0 });
});

afterAll(async () => {
  await anvil?.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** Both tokens for every holder, interleaved, a holder twice and one nobody paid: the order a caller asks in is arbitrary. */
function manyPairs(): BalancePair[] {
  const [first, second] = deployments.tokens as [Address, Address];
  const nobody = privateKeyToAccount(generatePrivateKey()).address;
  return [
    ...holders.flatMap((holder, index) =>
      index % 2
        ? [
            { token: second, holder },
            { token: first, holder },
          ]
        : [
            { token: first, holder },
            { token: second, holder },
          ],
    ),
    { token: first, holder: holders[3]! },
    { token: second, holder: nobody },
  ];
}

describe('readBalances', () => {
  it('the dev contracts put Multicall3 at its canonical address', async () => {
    expect(deployments.multicall3).toBe(CANONICAL_MULTICALL3);
    expect(await chain.getCode({ address: CANONICAL_MULTICALL3 })).toMatch(/^0x[0-9a-f]{100,}$/);
  });

  it('reads many pairs over several batches through Multicall3, in the order asked, as one call each would', async () => {
    const pairs = manyPairs();
    // 62 pairs in batches of 7: nine aggregate3 calls, more than run at once.
    const batched = await readBalances(chain, pairs, afterMint, { multicall: CANONICAL_MULTICALL3, batch: 7 });
    expect(batched).toEqual({ balances: expected(pairs), via: 'multicall3' });
    expect(new Set(batched.balances).size).toBeGreaterThan(HOLDERS * 2 - 1);

    const oneByOne = await readBalances(chain, pairs, afterMint, {});
    expect(oneByOne).toEqual({ balances: batched.balances, via: 'single_calls', reason: 'MULTICALL3_ADDRESS not set' });
    // The default batch holds them all.
    expect(await readBalances(chain, pairs, afterMint, { multicall: CANONICAL_MULTICALL3 })).toEqual(batched);
  });

  it('answers for the block asked, not the head', async () => {
    const pairs = manyPairs();
    const before = await readBalances(chain, pairs, beforeMint, { multicall: CANONICAL_MULTICALL3, batch: 10 });
    expect(before).toEqual({ balances: pairs.map(() => 0n), via: 'multicall3' });
  });

  it('reads one call each where the configured address has no code at that block, and says which address and block', async () => {
    const pairs = manyPairs();
    const empty = privateKeyToAccount(generatePrivateKey()).address;
    const reading = await readBalances(chain, pairs, afterMint, { multicall: empty });
    expect(reading).toEqual({ balances: expected(pairs), via: 'single_calls', reason: `no Multicall3 at ${getAddress(empty)} at block ${afterMint}` });
    expect(await readBalances(chain, [], afterMint, { multicall: empty })).toEqual({ balances: [], via: 'multicall3' });
  });

  it('asks a sub-call that fails again on its own, and names the token, holder and block when it fails again', async () => {
    const holder = holders[0]!;
    // The factory has code but no balanceOf (the sub-call reverts); an account without code answers nothing, successfully.
    for (const token of [deployments.factory, privateKeyToAccount(generatePrivateKey()).address]) {
      const pairs = [...manyPairs().slice(0, 5), { token, holder }];
      const failure = await readBalances(chain, pairs, afterMint, { multicall: CANONICAL_MULTICALL3 }).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(failure?.message).toMatch(new RegExp(`^balanceOf\\(${getAddress(holder)}\\) of token ${getAddress(token)} at block ${afterMint} failed: `));
    }
  });

  it('reads one call each when the node refuses a whole batch (its gas cap), and says so', async () => {
    const testClient = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });
    // One balanceOf fits under this limit; a batch of 62 (about 400,000 gas) does not.
    await testClient.setBlockGasLimit({ gasLimit: 200_000n });
    await testClient.mine({ blocks: 1 });
    const capped = await chain.getBlockNumber({ cacheTime: 0 });
    const pairs = manyPairs();
    const reading = await readBalances(chain, pairs, capped, { multicall: CANONICAL_MULTICALL3 });
    expect(reading.via).toBe('single_calls');
    expect(reading.reason).toMatch(/^Multicall3 call failed: \S/);
    expect(reading.balances).toEqual(expected(pairs));
  });
});
