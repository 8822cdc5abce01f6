/**
 * When a block is final: the one rule the watcher, reconciliation and refund matching share.
 *
 * A transfer is final once `confirmations` blocks (its own included) are on the chain, or, on a
 * chain with a `finalized` block tag and `useFinalizedTag` set, once the node reports its block
 * finalized. Built once from the configuration ({@link finalityFromConfig}) and handed down.
 */
import type { Config } from '../platform/config.js';
import type { ChainClient } from './client.js';

export interface Finality {
  /** Blocks a transfer must be buried under (its own block counts) before it is final. */
  confirmations: number;
  /** Use the node's `finalized` block instead of counting confirmations. */
  useFinalizedTag: boolean;
  /** Widest `eth_getLogs` range asked for in one call. */
  maxBlockRange: bigint;
}

/** The finality rule the configuration sets. */
export function finalityFromConfig(config: Pick<Config, 'confirmations' | 'useFinalizedTag' | 'maxBlockRange'>): Finality {
  return { confirmations: config.confirmations, useFinalizedTag: config.useFinalizedTag, maxBlockRange: BigInt(config.maxBlockRange) };
}

/**
 * The highest final block when the chain's head is `head`.
 *
 * @example
 * await finalHead(chain, { confirmations: 3, useFinalizedTag: false, maxBlockRange: 2000n }, 100n) // 98n
 */
export async function finalHead(chain: ChainClient, finality: Pick<Finality, 'confirmations' | 'useFinalizedTag'>, head: bigint): Promise<bigint> {
  if (finality.useFinalizedTag) return (await chain.getBlock({ blockTag: 'finalized' })).number;
  return head - BigInt(finality.confirmations) + 1n;
}
