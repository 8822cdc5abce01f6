/**
 * The gateway's background workers, built from its dependencies: the chain watcher, the
 * flusher, the relayer sender, the reconciler (refund matching, scheduled runs, balance checkpoints, idempotency-key retention), the
 * webhook dispatcher and the audit chainer. Each runs in one process at a time, under its own advisory lock
 * (`platform/workers.ts`).
 */

import type { LocalAccount } from 'viem';
import { CHAIN_BATCH, chainPendingAudit } from './audit/auditLog.js';
import type { ChainClient } from './chain/client.js';
import type { Finality } from './chain/finality.js';
import type { PaymentNetwork } from './chain/paymentNetwork.js';
import { purgeIdempotencyKeys } from './http/idempotency.js';
import { purgeExpiredRateLimits } from './http/rateLimits.js';
import { closeLedgerDays } from './ledger/checkpoints.js';
import type { Db } from './platform/db.js';
import type { Logger } from './platform/log.js';
import { errorSummary } from './platform/log.js';
import type { Metrics } from './platform/metrics.js';
import type { SecretBox } from './platform/secretBox.js';
import type { Worker } from './platform/workers.js';
import { matchRefunds } from './recon/resolutions.js';
import { executeReconciliation, fullSweepIsDue, scheduledRunIsDue, startReconciliation } from './recon/runs.js';
import { completeAnchors } from './reports/statementAnchor.js';
import { flushOnce } from './settlement/flusher.js';
import { watchFreezes } from './settlement/freezeWatch.js';
import { rescreenPending } from './settlement/pendingScreening.js';
import { relayerOnce } from './settlement/relayer.js';
import { syncOnce } from './settlement/watcher.js';
import { dispatchDueWebhooks } from './webhooks/dispatcher.js';

/** Advisory lock keys, one per worker: whoever holds a key runs that worker. */
export const LOCK_KEYS = { watcher: 72_001, flusher: 72_002, webhooks: 72_003, reconciler: 72_004, relayer: 72_005, auditChainer: 72_006 } as const;

export interface GatewayWorkersDeps {
  db: Db;
  chain: ChainClient;
  logger: Logger;
  metrics: Metrics;
  network: PaymentNetwork;
  finality: Finality;
  /** The relayer's key: only the relayer worker signs with it. */
  relayer: LocalAccount;
  /** How long a relayer transaction may wait to be mined before it is sent again with higher fees. */
  relayerReplaceAfterMs: number;
  paymentTolerance: bigint;
  flushBatchSize: number;
  watcherPollMs: number;
  reconIntervalMinutes: number;
  /** Days between scheduled full sweeps; 0: never scheduled. */
  reconFullSweepDays: number;
  /** Non-public addresses webhooks may still be sent to (development receivers). */
  webhookAllowedNetworks: readonly string[];
  /** Opens clinics' sealed webhook secrets. */
  secrets: SecretBox;
}

/** How often the reconciler also reads the issuers' freezes of the gateway's addresses, and asks the oracle again about payments held pending screening. */
const FREEZE_WATCH_INTERVAL_MS = 10_000;

/** How long the audit chainer rests when nothing waits: the most an event waits for the chain when the gateway is idle. */
const AUDIT_CHAIN_IDLE_MS = 100;

/** How often the reconciler also closes finished days of the ledger (writes their balance checkpoints). */
const DAY_CLOSE_INTERVAL_MS = 5 * 60_000;

/** How often the reconciler also removes idempotency keys past their retention. */
const PURGE_INTERVAL_MS = 3600_000;

export function gatewayWorkers(deps: GatewayWorkersDeps): Worker[] {
  const { db, chain, logger, metrics, network, finality } = deps;
  const tokens = network.tokens.map(({ address, decimals }) => ({ address, decimals }));
  const onChain = { db, chain, logger, chainId: network.chainId, token: network.token.address, tokens, finality, multicall: network.multicall3 ?? undefined };
  let lastPurge = 0;
  let lastDayClose = 0;
  let lastFreezeWatch = 0;
  let lastScheduledAttempt = 0;
  return [
    {
      name: 'watcher',
      lockKey: LOCK_KEYS.watcher,
      idleMs: deps.watcherPollMs,
      async tick() {
        const result = await syncOnce({ ...onChain, tolerance: deps.paymentTolerance, sanctionsOracle: network.sanctionsOracle, metrics: metrics.watcher });
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
          chainId: network.chainId,
          relayer: deps.relayer,
          factory: network.factory,
          token: network.token.address,
          tokens: tokens.map((token) => token.address),
          logger,
          batchSize: deps.flushBatchSize,
          metrics: metrics.flusher,
        });
        return result.flushed + result.queued > 0;
      },
    },
    {
      // The one sender of relayer transactions (flushes, anchors): its own nonces, replacement of
      // stuck transactions, and nothing held open while the chain decides.
      name: 'relayer',
      lockKey: LOCK_KEYS.relayer,
      idleMs: Math.max(Math.min(deps.watcherPollMs, 2000), 250),
      async tick() {
        const result = await relayerOnce({ db, chain, chainId: network.chainId, account: deps.relayer, logger, replaceAfterMs: deps.relayerReplaceAfterMs });
        const anchored = await completeAnchors(db);
        return result.sent + result.mined + result.reverted + result.failed + anchored > 0;
      },
    },
    {
      name: 'reconciler',
      lockKey: LOCK_KEYS.reconciler,
      idleMs: Math.max(deps.watcherPollMs, 2000),
      async tick() {
        const matched = await matchRefunds(onChain);
        if (Date.now() - lastFreezeWatch >= FREEZE_WATCH_INTERVAL_MS) {
          lastFreezeWatch = Date.now();
          await watchFreezes({ db, chain, logger, chainId: network.chainId, tokens: network.tokens, maxBlockRange: finality.maxBlockRange });
          await rescreenPending({ db, chain, logger, sanctionsOracle: network.sanctionsOracle });
        }
        if (Date.now() - lastDayClose >= DAY_CLOSE_INTERVAL_MS) {
          const closed = await closeLedgerDays(db);
          // A ledger with a long history catches up over a few passes; then once per interval.
          if (closed === 0) lastDayClose = Date.now();
          else logger.info({ days: closed }, 'ledger days closed: balance checkpoints written');
        }
        if (Date.now() - lastPurge >= PURGE_INTERVAL_MS) {
          const purged = await purgeIdempotencyKeys(db);
          const counts = await purgeExpiredRateLimits(db);
          lastPurge = Date.now();
          if (purged > 0) logger.info({ purged }, 'idempotency keys past retention removed');
          if (counts > 0) logger.debug({ purged: counts }, 'expired rate-limit counts removed');
        }
        // At most one attempt per interval: a run that cannot start (nothing final to reconcile
        // yet) records nothing, and would otherwise be tried, and logged, on every pass.
        const interval = deps.reconIntervalMinutes * 60_000;
        if (
          deps.reconIntervalMinutes > 0 &&
          Date.now() - lastScheduledAttempt >= interval &&
          (await scheduledRunIsDue(db, network.chainId, deps.reconIntervalMinutes))
        ) {
          lastScheduledAttempt = Date.now();
          const fullSweep = await fullSweepIsDue(db, network.chainId, deps.reconFullSweepDays);
          const run = await startReconciliation(onChain, { requestedBy: 'scheduler', fullSweep }).catch((error: unknown) => {
            logger.info({ err: errorSummary(error) }, 'scheduled reconciliation skipped');
            return undefined;
          });
          if (run) await executeReconciliation(onChain, run.id);
        }
        return matched > 0;
      },
    },
    {
      // Moves audited events onto the hash chain, so that no writer waits for the chain's head.
      name: 'auditChainer',
      lockKey: LOCK_KEYS.auditChainer,
      idleMs: AUDIT_CHAIN_IDLE_MS,
      async tick() {
        return (await chainPendingAudit(db, { maxRows: 10 * CHAIN_BATCH })) > 0;
      },
    },
    {
      name: 'webhooks',
      lockKey: LOCK_KEYS.webhooks,
      idleMs: 1000,
      async tick() {
        const result = await dispatchDueWebhooks({ db, logger, secrets: deps.secrets, allowedNetworks: deps.webhookAllowedNetworks });
        for (const outcome of ['delivered', 'retried', 'failed', 'skipped'] as const) {
          if (result[outcome] > 0) metrics.webhooks.deliveries(outcome, result[outcome]);
        }
        return result.delivered + result.retried + result.failed + result.skipped > 0;
      },
    },
  ];
}
