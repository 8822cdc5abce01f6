/**
 * chain/ — reading the chain, and nothing else: the RPC client, the payment network (token
 * and factory), deposit-address derivation, `Transfer` logs, the watcher's cursor, the block
 * hashes that reorgs are detected against, and the one finality rule (`finality.ts`).
 * It decides nothing about invoices or money; settlement/ does.
 *
 * This file: the JSON-RPC client every chain module shares.
 *
 * Owns tables: chain_cursors, chain_blocks.
 * May import: platform, domain.
 */
import { createPublicClient, http, type PublicClient } from 'viem';

export type ChainClient = PublicClient;

export interface CreateChainClientParameters {
  rpcUrl: string;
  timeoutMs: number;
}

/**
 * A public client with no automatic retries: callers decide how to back off, and a dead node
 * shows up at once in `/ready` instead of behind a retry loop.
 */
export function createChainClient({ rpcUrl, timeoutMs }: CreateChainClientParameters): ChainClient {
  return createPublicClient({ transport: http(rpcUrl, { timeout: timeoutMs, retryCount: 0 }) });
}
