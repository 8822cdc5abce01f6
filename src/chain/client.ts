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
  /** Told of every request's outcome: an HTTP error or no answer is an error (metrics). */
  onRequest?: ((outcome: 'ok' | 'error') => void) | undefined;
}

/**
 * A public client with no automatic retries: callers decide how to back off, and a dead node
 * shows up at once in `/ready` instead of behind a retry loop.
 */
export function createChainClient({ rpcUrl, timeoutMs, onRequest }: CreateChainClientParameters): ChainClient {
  const fetchFn: typeof fetch | undefined =
    onRequest === undefined
      ? undefined
      : async (input, init) => {
          try {
            const response = await fetch(input, init);
            onRequest(response.ok ? 'ok' : 'error');
            return response;
          } catch (error) {
            onRequest('error');
            throw error;
          }
        };
  return createPublicClient({ transport: http(rpcUrl, { timeout: timeoutMs, retryCount: 0, ...(fetchFn ? { fetchFn } : {}) }) });
}
