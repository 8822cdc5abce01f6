/**
 * The gateway's background workers, built from its dependencies: the chain watcher, the
 * flusher and the webhook dispatcher.
 */
import type { Address } from 'viem';
import type { ChainClient } from '../chain/client.js';
import type { SendingWallet } from '../chain/depositFactory.js';
import { flushOnce } from '../chain/flusher.js';
import { syncOnce } from '../chain/watcher.js';
import type { Db } from '../db/knex.js';
import type { PaymentNetwork } from '../invoices/invoices.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { dispatchDueWebhooks } from '../webhooks/dispatcher.js';
import { LOCK_KEYS, type Worker } from './workers.js';

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
}

export function gatewayWorkers(deps: GatewayWorkersDeps): Worker[] {
  const { db, chain, logger, metrics, network } = deps;
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
