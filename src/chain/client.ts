/**
 * The JSON-RPC client every chain module shares.
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
