/**
 * Reading ERC-20 `Transfer` logs in bounded block ranges, splitting a range the node refuses.
 */
import { type Address, type Hex, HttpRequestError, parseAbiItem } from 'viem';
import type { ChainClient } from './client.js';

export const TRANSFER_EVENT = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

export interface TransferLog {
  token: Address;
  from: Address;
  to: Address;
  value: bigint;
  blockNumber: bigint;
  blockHash: Hex;
  /** The block's time (seconds), where the node puts it in its logs; otherwise the header has it. */
  blockTimestamp?: bigint | undefined;
  txHash: Hex;
  logIndex: number;
}

export interface FetchTransferLogsParameters {
  chain: ChainClient;
  /** Token contracts to read; `undefined` reads every contract. */
  tokens: readonly Address[] | undefined;
  fromBlock: bigint;
  toBlock: bigint;
  /** Only logs whose `to` is one of these (topic filter), when given. */
  toAddresses?: readonly Address[];
  /** Smallest range to split down to before giving up. */
  minRange?: bigint;
}

/**
 * All `Transfer` logs of `tokens` in `[fromBlock, toBlock]`. When the node refuses the range
 * (too many results, too wide, timeout), the range is halved and each half fetched, down to
 * `minRange`; then the error is thrown for the caller to back off.
 */
export async function fetchTransferLogs(params: FetchTransferLogsParameters): Promise<TransferLog[]> {
  const { chain, tokens, fromBlock, toBlock, minRange = 1n } = params;
  try {
    const logs = await chain.getLogs({
      ...(tokens ? { address: [...tokens] } : {}),
      event: TRANSFER_EVENT,
      ...(params.toAddresses ? { args: { to: [...params.toAddresses] } } : {}),
      fromBlock,
      toBlock,
      strict: true,
    });
    return logs.map((log) => ({
      token: log.address,
      from: log.args.from,
      to: log.args.to,
      value: log.args.value,
      blockNumber: log.blockNumber,
      blockHash: log.blockHash,
      ...(typeof log.blockTimestamp === 'bigint' ? { blockTimestamp: log.blockTimestamp } : {}),
      txHash: log.transactionHash,
      logIndex: log.logIndex,
    }));
  } catch (error) {
    const span = toBlock - fromBlock + 1n;
    // A node that cannot be reached will not answer a smaller range either.
    if (span <= minRange || isUnreachable(error)) throw error;
    const middle = fromBlock + span / 2n - 1n;
    const lower = await fetchTransferLogs({ ...params, toBlock: middle });
    const upper = await fetchTransferLogs({ ...params, fromBlock: middle + 1n });
    return [...lower, ...upper];
  }
}

function isUnreachable(error: unknown): boolean {
  return error instanceof HttpRequestError && error.status === undefined;
}
