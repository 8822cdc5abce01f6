/**
 * Liveness and readiness probes.
 */
import { Router } from 'express';
import type { Address } from 'viem';
import { auditChainLag } from '../audit/auditLog.js';
import type { ChainClient } from '../chain/client.js';
import { readCursor } from '../chain/cursor.js';
import { sanctionsOracleAbi } from '../chain/paymentNetwork.js';
import { pendingScreeningCount } from '../compliance/holds.js';
import type { Db } from '../platform/db.js';
import { type Problem, problemFor, sendProblem } from './problem.js';

export interface HealthDeps {
  db: Db;
  chain: ChainClient;
  chainId: number;
  /** Upper bound on each readiness check, so a hung dependency cannot hang the probe. */
  checkTimeoutMs: number;
  /** The sanctions oracle payers are screened by, when one is configured. */
  sanctionsOracle?: Address | null | undefined;
}

interface CheckResult {
  ok: boolean;
  detail?: string;
  [key: string]: unknown;
}

/** `GET /health`: the process is up. `GET /ready`: Postgres and the RPC node both answer. */
export function healthRouter({ db, chain, chainId, checkTimeoutMs, sanctionsOracle }: HealthDeps): Router {
  const router = Router();

  router.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Probes from several load balancers (and anyone else) share one check per READY_CACHE_MS:
  // the database and the node are asked at most about once a second, however often /ready is.
  let cached: { at: number; answer: Promise<ReadyAnswer> } | undefined;
  router.get('/ready', async (_req, res) => {
    const now = Date.now();
    if (!cached || now - cached.at >= READY_CACHE_MS) cached = { at: now, answer: readiness({ db, chain, chainId, checkTimeoutMs, sanctionsOracle }) };
    const answer = await cached.answer;
    if (answer.ready) res.json(answer.body);
    else sendProblem(res, answer.body);
  });

  return router;
}

/** How long one readiness answer is reused. */
export const READY_CACHE_MS = 1000;

type ReadyAnswer = { ready: true; body: Record<string, unknown> } | { ready: false; body: Problem };

async function readiness({ db, chain, chainId, checkTimeoutMs, sanctionsOracle }: HealthDeps): Promise<ReadyAnswer> {
  const [database, rpc] = await Promise.all([
    check(checkTimeoutMs, async () => {
      await db.raw('select 1');
      return {};
    }),
    check(checkTimeoutMs, async () => {
      const [block, served] = await Promise.all([chain.getBlockNumber({ cacheTime: 0 }), chain.getChainId()]);
      // The node behind RPC_URL could be swapped for one on another chain: nothing it says would be ours.
      if (served !== chainId) throw new Error(`the node serves chain ${served}, not ${chainId}`);
      return { block_number: block.toString() };
    }),
  ]);
  const checks = { database, rpc };
  // How far the chain watcher is behind the head: reported, not a reason to refuse traffic.
  const cursor = database.ok ? await readCursor(db, chainId).catch(() => undefined) : undefined;
  const watcher =
    cursor !== undefined && typeof rpc.block_number === 'string'
      ? { cursor: cursor.toString(), lag_blocks: Number(BigInt(rpc.block_number) - cursor) }
      : { cursor: cursor?.toString() ?? null, lag_blocks: null };
  // Screening: reported, not a reason to refuse traffic. Payments keep being credited; those whose
  // payer the oracle cannot be asked about are held pending screening until it answers.
  const screening = {
    oracle: sanctionsOracle
      ? await check(checkTimeoutMs, async () => {
          await chain.readContract({ address: sanctionsOracle, abi: sanctionsOracleAbi, functionName: 'isSanctioned', args: [sanctionsOracle] });
          return { address: sanctionsOracle };
        })
      : null,
    held_pending_screening: database.ok ? await pendingScreeningCount(db).catch(() => null) : null,
  };
  // The audit chainer's lag: reported (and alerted on), not a reason to refuse traffic. Writers
  // never wait for it; what is not on the chain yet is in the inbox, and readers catch it up.
  const lag = database.ok ? await auditChainLag(db).catch(() => undefined) : undefined;
  const audit_chain = { unchained: lag?.pending ?? null, lag_seconds: lag === undefined ? null : Math.round(lag.oldestSeconds * 1000) / 1000 };
  if (database.ok && rpc.ok) return { ready: true, body: { status: 'ready', checks, watcher, screening, audit_chain } };
  const failing = Object.entries(checks)
    .filter(([, result]) => !result.ok)
    .map(([name, result]) => `${name}: ${result.detail}`);
  return { ready: false, body: { ...problemFor('not_ready', failing.join('; ')), checks, watcher, screening, audit_chain } };
}

async function check(timeoutMs: number, probe: () => Promise<Record<string, unknown>>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return { ok: true, ...(await Promise.race([probe(), timeout])) };
  } catch (error) {
    return { ok: false, detail: describeFailure(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** A one-line reason that names the failure without leaking URLs or credentials. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown failure';
  const code = findCode(error);
  if (code) return `unreachable (${code})`;
  const firstLine = error.message.split('\n')[0] ?? 'failed';
  return firstLine.replace(/\b[a-z]+:\/\/\S+/gi, '<url>').slice(0, 200);
}

function findCode(error: unknown, depth = 0): string | undefined {
  if (depth > 5 || !error || typeof error !== 'object') return undefined;
  const { code, cause } = error as { code?: unknown; cause?: unknown };
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  return findCode(cause, depth + 1);
}
