/**
 * The gateway's background workers, built from its dependencies: the chain watcher, the
 * flusher and the webhook dispatcher.
 */
import type { Address } from 'viem';
import type { ChainClient } from './chain/client.js';
import type { SendingWallet } from './settlement/depositFactory.js';
import { flushOnce } from './settlement/flusher.js';
import { syncOnce } from './settlement/watcher.js';
import type { Db } from './platform/db.js';
import type { PaymentNetwork } from './billing/invoices.js';
import type { Logger } from './platform/log.js';
import type { Metrics } from './platform/metrics.js';
import { dispatchDueWebhooks } from './webhooks/dispatcher.js';
import { purgeIdempotencyKeys } from './http/idempotency.js';
import { matchRefunds } from './recon/resolutions.js';
import { executeReconciliation, startReconciliation } from './recon/runs.js';
import { LOCK_KEYS, type Worker } from './platform/workers.js';

/** Whether the last run (of any kind) started longer than the interval ago. */
async function scheduledRunIsDue(db: Db, chainId: number, intervalMinutes: number): Promise<boolean> {
  const last = (await db('reconciliation_runs').where({ chain_id: chainId }).orderBy('created_at', 'desc').first('created_at')) as { created_at: Date } | undefined;
  return !last || Date.now() - last.created_at.getTime() >= intervalMinutes * 60_000;
}

export interface GatewayWorkersDeps {
  db: Db;
  chain: ChainClient;
  logger: Logger;
  metrics: Metrics;
  network: PaymentNetwork;
  relayer: SendingWallet;
  confirmations: number;
  useFinalizedTag: boolean;
  paymentTolerance: bigint;
  maxBlockRange: number;
  flushBatchSize: number;
  watcherPollMs: number;
  reconIntervalMinutes: number;
}

/** How often the reconciler also removes idempotency keys past their retention. */
const PURGE_INTERVAL_MS = 3600_000;

export function gatewayWorkers(deps: GatewayWorkersDeps): Worker[] {
  const { db, chain, logger, metrics, network } = deps;
  let lastPurge = 0;
  return [
    {
      name: 'watcher',
      lockKey: LOCK_KEYS.watcher,
      idleMs: deps.watcherPollMs,
      async tick() {
        const result = await syncOnce({
          db,
          chain,
          logger,
          chainId: network.chainId,
          token: network.token.address,
          confirmations: deps.confirmations,
          useFinalizedTag: deps.useFinalizedTag,
          tolerance: deps.paymentTolerance,
          maxBlockRange: BigInt(deps.maxBlockRange),
          metrics: metrics.watcher,
        });
        // More blocks to read: go again at once.
        return result.cursor < result.head;
      },
    },
    {
      name: 'flusher',
      lockKey: LOCK_KEYS.flusher,
      idleMs: Math.max(deps.watcherPollMs, 1000),
      async tick() {
        const result = await flushOnce({
          db,
          chain,
          relayer: deps.relayer,
          factory: network.factory as Address,
          token: network.token.address,
          logger,
          batchSize: deps.flushBatchSize,
          metrics: metrics.flusher,
        });
        return result.flushed > 0;
      },
    },
    {
      name: 'reconciler',
      lockKey: LOCK_KEYS.reconciler,
      idleMs: Math.max(deps.watcherPollMs, 2000),
      async tick() {
        const finality = { confirmations: deps.confirmations, useFinalizedTag: deps.useFinalizedTag };
        const matched = await matchRefunds({ db, chain, chainId: network.chainId, token: network.token.address, ...finality });
        if (Date.now() - lastPurge >= PURGE_INTERVAL_MS) {
          const purged = await purgeIdempotencyKeys(db);
          lastPurge = Date.now();
          if (purged > 0) logger.info({ purged }, 'idempotency keys past retention removed');
        }
        if (deps.reconIntervalMinutes > 0 && (await scheduledRunIsDue(db, network.chainId, deps.reconIntervalMinutes))) {
          const recon = { db, chain, logger, chainId: network.chainId, token: network.token.address, maxBlockRange: BigInt(deps.maxBlockRange), ...finality };
          const run = await startReconciliation(recon, { requestedBy: 'scheduler' }).catch((error: unknown) => {
            logger.info({ err: error instanceof Error ? error.message : String(error) }, 'scheduled reconciliation skipped');
            return undefined;
          });
          if (run) await executeReconciliation(recon, run.id);
        }
        return matched > 0;
      },
    },
    {
      name: 'webhooks',
      lockKey: LOCK_KEYS.webhooks,
      idleMs: 1000,
      async tick() {
        const result = await dispatchDueWebhooks({ db, logger });
        for (const outcome of ['delivered', 'retried', 'failed', 'skipped'] as const) {
          if (result[outcome] > 0) metrics.webhooks.deliveries(outcome, result[outcome]);
        }
        return result.delivered + result.retried + result.failed + result.skipped > 0;
      },
    },
  ];
}
