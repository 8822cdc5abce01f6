/**
 * The gauges an operator alerts on (ops/alerts.yml), read when `/metrics` is scraped: queue
 * depths from the database, the pools' use, and what the relayer can still pay for. Every
 * instance reports the same database counts, so alert rules take their `max`.
 */
import type { Address } from 'viem';
import type { ChainClient } from './chain/client.js';
import type { Db } from './platform/db.js';
import type { GaugeSample, Metrics } from './platform/metrics.js';

export interface OperationalMetricsDeps {
  db: Db;
  /** The process's connection pools, by name (api, reports, workers). */
  pools: Record<string, Db>;
  chain: ChainClient;
  /** The relayer's address, when this process knows it. */
  relayer?: Address | undefined;
}

/** Gas of one first forwarding (a deposit's clone deployed and swept), from bench/gas.ts. */
const GAS_PER_FORWARDING = 60_000n;
/** The relayer's balance is read from the node at most this often. */
const RELAYER_READ_INTERVAL_MS = 30_000;

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}

export function registerOperationalMetrics(metrics: Metrics, deps: OperationalMetricsDeps): void {
  const { db } = deps;
  const count = async (sql: string): Promise<{ label?: string; n: number; seconds?: number }[]> =>
    ((await db.raw(sql)) as { rows: { label?: string; n: string; seconds?: string | null }[] }).rows.map((row) => ({
      ...(row.label === undefined ? {} : { label: row.label }),
      n: Number(row.n),
      ...(row.seconds === undefined || row.seconds === null ? {} : { seconds: Number(row.seconds) }),
    }));

  metrics.scrapedGauge('clinicpay_webhook_events_pending', 'Webhook events waiting to be delivered (or retried).', [], async () => {
    const [row] = await count(`SELECT count(*) AS n FROM webhook_events WHERE status = 'pending'`);
    return [{ value: row!.n }];
  });
  metrics.scrapedGauge('clinicpay_webhook_oldest_pending_seconds', 'Age of the oldest webhook event not yet delivered.', [], async () => {
    const [row] = await count(`SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS seconds FROM webhook_events WHERE status = 'pending'`);
    return [{ value: row!.seconds ?? 0 }];
  });
  metrics.scrapedGauge('clinicpay_audit_events_unchained', 'Audited events written and not yet on the hash chain.', [], async () => {
    const [row] = await count(`SELECT count(*) AS n FROM audit_inbox`);
    return [{ value: row!.n }];
  });
  metrics.scrapedGauge(
    'clinicpay_audit_chain_lag_seconds',
    'How long the oldest audited event not yet on the hash chain has waited (0 when none waits).',
    [],
    async () => {
      const [row] = await count(`SELECT count(*) AS n, extract(epoch FROM now() - min(occurred_at)) AS seconds FROM audit_inbox`);
      return [{ value: Math.max(0, row!.seconds ?? 0) }];
    },
  );
  metrics.scrapedGauge('clinicpay_exceptions_open', 'Reconciliation exceptions not yet resolved, by type.', ['type'], async () =>
    (await count(`SELECT type AS label, count(*) AS n FROM exceptions WHERE status <> 'resolved' GROUP BY type`)).map((row) => ({
      labels: { type: row.label! },
      value: row.n,
    })),
  );
  metrics.scrapedGauge(
    'clinicpay_addresses_frozen',
    "The gateway's addresses an accepted token's issuer has frozen and not lifted, by role (deposit, settlement).",
    ['role'],
    async () => {
      const rows = await count(`SELECT role AS label, count(*) AS n FROM address_freezes WHERE lifted_at IS NULL GROUP BY role`);
      return ['deposit', 'settlement'].map((role) => ({ labels: { role }, value: rows.find((row) => row.label === role)?.n ?? 0 }));
    },
  );
  metrics.scrapedGauge(
    'clinicpay_flush_requests',
    'Deposit addresses waiting to be forwarded, on their way, or failed for good, by status.',
    ['status'],
    async () => {
      const rows = await count(`SELECT status AS label, count(*) AS n FROM flush_requests WHERE status IN ('pending', 'sent', 'failed') GROUP BY status`);
      return ['pending', 'sent', 'failed'].map((status) => ({ labels: { status }, value: rows.find((row) => row.label === status)?.n ?? 0 }));
    },
  );
  metrics.scrapedGauge('clinicpay_relayer_transactions_in_flight', 'Relayer transactions signed or sent and not yet mined.', [], async () => {
    const [row] = await count(`SELECT count(*) AS n FROM relayer_transactions WHERE status IN ('signed', 'sent')`);
    return [{ value: row!.n }];
  });
  metrics.scrapedGauge(
    'clinicpay_db_pool_connections',
    'Connections of each pool of this process, by state (used, free, pending acquires, max).',
    ['pool', 'state'],
    async () =>
      Object.entries(deps.pools).flatMap(([pool, poolDb]): GaugeSample[] => {
        const tarn = (poolDb.client as { pool?: TarnPool }).pool;
        if (!tarn) return [];
        return [
          { labels: { pool, state: 'used' }, value: tarn.numUsed() },
          { labels: { pool, state: 'free' }, value: tarn.numFree() },
          { labels: { pool, state: 'pending' }, value: tarn.numPendingAcquires() },
          { labels: { pool, state: 'max' }, value: tarn.max },
        ];
      }),
  );

  let relayerRead: { at: number; balance: bigint; affordable: bigint } | undefined;
  const readRelayer = async () => {
    if (!deps.relayer) return undefined;
    if (relayerRead && Date.now() - relayerRead.at < RELAYER_READ_INTERVAL_MS) return relayerRead;
    const [balance, fees] = await Promise.all([deps.chain.getBalance({ address: deps.relayer }), deps.chain.estimateFeesPerGas()]);
    relayerRead = { at: Date.now(), balance, affordable: balance / (GAS_PER_FORWARDING * (fees.maxFeePerGas > 0n ? fees.maxFeePerGas : 1n)) };
    return relayerRead;
  };
  metrics.scrapedGauge('clinicpay_relayer_balance_wei', "The relayer's balance of the chain's native currency (gas money).", [], async () => {
    const read = await readRelayer();
    return read ? [{ value: Number(read.balance) }] : [];
  });
  metrics.scrapedGauge('clinicpay_relayer_forwardings_affordable', 'First forwardings the relayer can pay for at the current gas price.', [], async () => {
    const read = await readRelayer();
    return read ? [{ value: Number(read.affordable) }] : [];
  });
}
