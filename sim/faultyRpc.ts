/**
 * A JSON-RPC proxy between the gateway's instances and the node, which the simulator tells to
 * misbehave for a number of calls: refuse (HTTP 503), never answer (the caller times out),
 * report a head a few blocks behind, answer `eth_getLogs` with every log twice or in reverse
 * order, answer it as a backend that has not indexed the newest blocks yet (nothing at all, or
 * without their logs), or answer that a block does not exist. Everything it does not fault is
 * the real node's answer.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RpcFault } from './schedule.js';

export interface FaultyRpc {
  url: string;
  /**
   * Faults the next `calls` calls it applies to. `blocks`: how many of the newest blocks a
   * backend behind has not indexed (`empty_logs`, `partial_logs`).
   */
  inject(fault: RpcFault, calls: number, blocks?: number): void;
  /** Back to the real node's answers. */
  heal(): void;
  /** Faults injected so far, by kind (calls affected). */
  readonly injected: Map<RpcFault, number>;
  close(): Promise<void>;
}

/** How far behind a lagging head is. */
const LAG_BLOCKS = 2n;
/** How long a call that times out is held before its connection is closed unanswered: longer than the gateway waits. */
export const TIMEOUT_HOLD_MS = 600;

export async function startFaultyRpc(upstream: string): Promise<FaultyRpc> {
  let fault: { kind: RpcFault; remaining: number; blocks: bigint } | undefined;
  const injected = new Map<RpcFault, number>();
  const take = (kind: RpcFault, applies: boolean): boolean => {
    if (!fault || fault.kind !== kind || !applies || fault.remaining <= 0) return false;
    fault.remaining -= 1;
    injected.set(kind, (injected.get(kind) ?? 0) + 1);
    if (fault.remaining === 0) fault = undefined;
    return true;
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const call = JSON.parse(body) as { id?: unknown; method?: string; params?: unknown[] } | unknown[];
        const method = Array.isArray(call) ? undefined : call.method;
        if (take('error', true)) {
          response.writeHead(503, { 'content-type': 'text/plain' }).end('node unavailable');
          return;
        }
        if (take('timeout', true)) {
          setTimeout(() => response.destroy(), TIMEOUT_HOLD_MS);
          return;
        }
        if (!Array.isArray(call) && method === 'eth_getBlockByNumber' && take('block_not_found', true)) {
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: call.id, result: null }));
          return;
        }
        try {
          const answer = await fetch(upstream, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          let text = await answer.text();
          if (!Array.isArray(call) && answer.ok) {
            const parsed = JSON.parse(text) as { result?: unknown };
            if (method === 'eth_blockNumber' && typeof parsed.result === 'string' && take('lagging_head', true)) {
              const head = BigInt(parsed.result);
              text = JSON.stringify({ ...parsed, result: `0x${(head > LAG_BLOCKS ? head - LAG_BLOCKS : 0n).toString(16)}` });
            } else if (method === 'eth_getLogs' && Array.isArray(parsed.result)) {
              const logs = parsed.result as { blockNumber: string }[];
              // What a backend that has indexed blocks only up to `indexed` answers.
              const indexed = fault?.kind === 'empty_logs' || fault?.kind === 'partial_logs' ? (await headOf(upstream)) - fault.blocks : undefined;
              const unindexed = logs.filter((log) => indexed !== undefined && BigInt(log.blockNumber) > indexed);
              if (take('duplicated_logs', logs.length > 0)) text = JSON.stringify({ ...parsed, result: logs.flatMap((log) => [log, log]) });
              else if (take('reordered_logs', logs.length > 1)) text = JSON.stringify({ ...parsed, result: [...logs].reverse() });
              else if (take('empty_logs', unindexed.length > 0)) text = JSON.stringify({ ...parsed, result: [] });
              else if (take('partial_logs', unindexed.length > 0 && unindexed.length < logs.length))
                text = JSON.stringify({ ...parsed, result: logs.filter((log) => !unindexed.includes(log)) });
            }
          }
          response.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
        } catch {
          response.destroy();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    inject(kind, calls, blocks = 1) {
      fault = { kind, remaining: calls, blocks: BigInt(blocks) };
    },
    heal() {
      fault = undefined;
    },
    injected,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** The node's head now. */
async function headOf(upstream: string): Promise<bigint> {
  const answer = await fetch(upstream, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }),
  });
  return BigInt(((await answer.json()) as { result: string }).result);
}
