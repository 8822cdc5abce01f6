/**
 * Faults of the running gateway, each through the real process (`clinicpay start`) against a
 * Postgres database and an anvil chain of the test's own:
 *
 * - SIGKILL in the middle of ingesting (twice) and while a payment is seen but not yet final,
 *   each time restarted: every transfer posted exactly once.
 * - Two gateway processes on one database: one leader per worker, no double posting, no double
 *   flush; the leader SIGKILLed, the other takes over and keeps settling.
 * - The RPC node down while the gateway runs: `/ready` says so, `/health` still answers, the
 *   watcher backs off without crashing; the node back (same port, same state): ready again, and
 *   payments made around the outage are credited.
 * - A flaky network to the node (a share of block and log requests cut, through a pass-through
 *   proxy): a failed request is never taken for a reorg; nothing is rolled back or reversed.
 * - Disaster recovery: the database restored from a copy taken before some payments; restarted
 *   as it is, the watcher and a reconciliation bring the ledger back to the chain's truth.
 *
 * The chain mines a block per transaction only; tests mine further blocks (for confirmations)
 * while they wait.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import type { Address } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type ClinicRow, createClinic } from '../src/billing/clinics.js';
import { createInvoice, type InvoiceRow } from '../src/billing/invoices.js';
import { TRANSFER_EVENT } from '../src/chain/transferLogs.js';
import { startAnvil } from '../src/dev/anvil.js';
import { createDb, type Db } from '../src/platform/db.js';
import { withTransaction } from '../src/platform/transaction.js';
import { waitFor } from '../src/platform/waitFor.js';
import { LOCK_KEYS } from '../src/workers.js';
import { TEST_ACTOR, TEST_SECRETS } from './support/app.js';
import { createTestDatabase } from './support/database.js';
import {
  clinicBalances,
  countWhere,
  FlakyRpcProxy,
  gatewayEnv,
  leadershipAcquired,
  type PrivateChain,
  pay,
  type StartedGateway,
  startGatewayProcess,
  startPrivateChain,
  stopGatewayProcess,
  tempDir,
  tokenBalance,
  unbalancedEntries,
} from './support/gatewayHarness.js';

/** Every background worker: each has its advisory lock key. */
const WORKERS = Object.keys(LOCK_KEYS) as (keyof typeof LOCK_KEYS)[];

let workDir: string;

beforeAll(() => {
  workDir = tempDir('clinicpay-faults-', os.tmpdir());
});

afterAll(() => {
  fs.rmSync(workDir, { recursive: true, force: true });
});

/** A clinic with `count` invoices of distinct amounts, written straight to the database. */
async function clinicWithInvoices(db: Db, chain: PrivateChain, count: number): Promise<{ clinic: ClinicRow; invoices: InvoiceRow[] }> {
  return withTransaction(db, async (trx) => {
    const clinic = await createClinic(trx, TEST_ACTOR, {
      name: 'Fault Clinic',
      settlementAddress: privateKeyToAccount(generatePrivateKey()).address,
      webhookUrl: undefined,
      secrets: TEST_SECRETS,
    });
    const invoices: InvoiceRow[] = [];
    for (let i = 0; i < count; i++) {
      invoices.push(
        await createInvoice(trx, {
          clinicId: clinic.id,
          input: { patient_ref: `P-${i}`, currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: `${100 + i}.25` }] },
          network: chain.network,
          actor: TEST_ACTOR,
        }),
      );
    }
    return { clinic, invoices };
  });
}

async function moreInvoices(db: Db, chain: PrivateChain, clinic: ClinicRow, count: number): Promise<InvoiceRow[]> {
  return withTransaction(db, async (trx) => {
    const invoices: InvoiceRow[] = [];
    for (let i = 0; i < count; i++) {
      invoices.push(
        await createInvoice(trx, {
          clinicId: clinic.id,
          input: { patient_ref: `Q-${i}`, currency: 'HKD', line_items: [{ description: 'X-ray', quantity: 1, unit_amount: `${300 + i}.00` }] },
          network: chain.network,
          actor: TEST_ACTOR,
        }),
      );
    }
    return invoices;
  });
}

const confirmedPayments = (db: Db) => countWhere(db, `SELECT 1 FROM transfers WHERE kind = 'payment' AND status = 'confirmed'`);

async function statuses(db: Db, invoices: readonly InvoiceRow[]): Promise<string[]> {
  const rows = (await db('invoices')
    .whereIn(
      'id',
      invoices.map((invoice) => invoice.id),
    )
    .select('status')) as { status: string }[];
  return rows.map((row) => row.status);
}

/**
 * Waits, mining a block per look (the chain only mines on transactions), until every invoice is
 * paid, every flush the live gateway owns is done, and every forward on the chain is posted.
 * Flushes a killed process left `sent` are only retried after their lease, so they may remain.
 */
async function waitUntilSettled(db: Db, chain: PrivateChain, invoices: readonly InvoiceRow[], liveSince: Date, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    async () => {
      await chain.testClient.mine({ blocks: 1 });
      if ((await statuses(db, invoices)).some((status) => status !== 'paid')) return false;
      const unfinished = await countWhere(db, `SELECT 1 FROM flush_requests WHERE status <> 'done' AND NOT (status = 'sent' AND updated_at < ?)`, [liveSince]);
      if (unfinished > 0) return false;
      const forwardsOnChain = await forwardLogs(chain, invoices);
      const forwardsPosted = await countWhere(db, `SELECT 1 FROM transfers WHERE kind = 'forward' AND status = 'confirmed'`);
      return forwardsOnChain.length === forwardsPosted && (await countWhere(db, `SELECT 1 FROM transfers WHERE status = 'pending'`)) === 0;
    },
    { what: `${invoices.length} invoices to be paid and swept`, timeoutMs, intervalMs: 100 },
  );
}

/** Every token transfer out of the invoices' deposit addresses, straight from the chain. */
async function forwardLogs(chain: PrivateChain, invoices: readonly InvoiceRow[]) {
  return chain.chain.getLogs({
    address: chain.network.token.address,
    event: TRANSFER_EVENT,
    args: { from: invoices.map((invoice) => invoice.deposit_address as Address) },
    fromBlock: 0n,
    toBlock: 'latest',
    strict: true,
  });
}

/**
 * The ledger against the chain, once nothing is in flight: every entry balances; exactly one
 * payment entry per payment transfer and one forward entry per forward; no reversals; the
 * clinic's deposits and settlement accounts hold what its deposit addresses and settlement
 * wallet hold on the chain, and together what the patients paid.
 */
async function expectLedgerMatchesChain(db: Db, chain: PrivateChain, clinic: ClinicRow, invoices: readonly InvoiceRow[], paidTotal: bigint): Promise<void> {
  expect(await unbalancedEntries(db)).toEqual([]);
  const payments = await countWhere(db, `SELECT 1 FROM transfers WHERE kind = 'payment'`);
  expect(payments).toBe(invoices.length);
  expect(await countWhere(db, `SELECT 1 FROM transfers WHERE kind = 'payment' AND status = 'confirmed'`)).toBe(invoices.length);
  expect(await countWhere(db, `SELECT 1 FROM journal_entries WHERE kind = 'payment'`)).toBe(invoices.length);
  expect(await countWhere(db, `SELECT DISTINCT transfer_id FROM journal_entries WHERE kind = 'payment'`)).toBe(invoices.length);
  expect(await countWhere(db, `SELECT DISTINCT idempotency_key FROM journal_entries`)).toBe(await countWhere(db, `SELECT 1 FROM journal_entries`));
  expect(await countWhere(db, `SELECT 1 FROM journal_entries WHERE kind = 'reversal'`)).toBe(0);
  // One entry per transfer at most, of any kind.
  expect(await countWhere(db, `SELECT transfer_id FROM journal_entries WHERE transfer_id IS NOT NULL GROUP BY transfer_id HAVING count(*) > 1`)).toBe(0);
  // Each invoice: one payment transfer, its amount exactly what was due, paid.
  const perInvoice = (await db('transfers')
    .where({ kind: 'payment' })
    .groupBy('invoice_id')
    .select('invoice_id', db.raw('count(*)::int AS n'), db.raw('sum(amount)::text AS amount'))) as { invoice_id: string; n: number; amount: string }[];
  const due = new Map(invoices.map((invoice) => [invoice.id, invoice.token_amount_due]));
  expect(perInvoice).toHaveLength(invoices.length);
  for (const row of perInvoice) expect(row).toMatchObject({ n: 1, amount: due.get(row.invoice_id) });
  expect(new Set(await statuses(db, invoices))).toEqual(new Set(['paid']));
  // Exactly one `invoice.paid` event per invoice: the event is written with the state change.
  expect(
    await countWhere(
      db,
      `SELECT invoice_id FROM (SELECT payload->'object'->>'id' AS invoice_id FROM webhook_events WHERE type = 'invoice.paid') e GROUP BY invoice_id HAVING count(*) = 1`,
    ),
  ).toBe(invoices.length);

  const balances = await clinicBalances(db, clinic.id);
  let onDeposits = 0n;
  for (const invoice of invoices) onDeposits += await tokenBalance(chain.chain, chain.network.token.address, invoice.deposit_address);
  const onSettlement = await tokenBalance(chain.chain, chain.network.token.address, clinic.settlement_address);
  expect({ deposits: balances.deposits, settlement: balances.settlement }).toEqual({ deposits: onDeposits, settlement: onSettlement });
  expect(balances.deposits + balances.settlement).toBe(paidTotal);
  expect(balances.patient_payments).toBe(-paidTotal);
}

/** No deposit address was swept twice: one forward per deposit on the chain and in the database. */
async function expectNoDoubleFlush(
  db: Db,
  chain: PrivateChain,
  invoices: readonly InvoiceRow[],
  { everyRelayerTransactionRecorded = true } = {},
): Promise<void> {
  const logs = await forwardLogs(chain, invoices);
  const perDeposit = new Map<string, number>();
  for (const log of logs) perDeposit.set(log.args.from.toLowerCase(), (perDeposit.get(log.args.from.toLowerCase()) ?? 0) + 1);
  for (const invoice of invoices) expect(perDeposit.get(invoice.deposit_address), invoice.deposit_address).toBe(1);
  expect(await countWhere(db, `SELECT invoice_id FROM transfers WHERE kind = 'forward' GROUP BY invoice_id HAVING count(*) <> 1`)).toBe(0);
  expect(await countWhere(db, `SELECT 1 FROM transfers WHERE kind = 'forward'`)).toBe(invoices.length);
  for (const log of logs)
    expect(log.args.to.toLowerCase()).toBe(invoices.find((invoice) => invoice.deposit_address === log.args.from.toLowerCase())!.settlement_address);
  // The relayer sent exactly the flushMany transactions the flush requests record, nothing more
  // (unless the database forgot some: after a restore, swept deposits are flushed once more, moving nothing).
  const flushTxs = await countWhere(db, `SELECT DISTINCT tx_hash FROM flush_requests WHERE tx_hash IS NOT NULL`);
  if (everyRelayerTransactionRecorded) expect(await chain.chain.getTransactionCount({ address: chain.relayer })).toBe(flushTxs);
}

describe('the gateway killed (SIGKILL) in the middle of ingesting', () => {
  it('is killed twice mid-ingest and once holding a payment seen but not final, and posts every transfer exactly once', { timeout: 300_000 }, async () => {
    const count = 40;
    const database = await createTestDatabase();
    const chain = await startPrivateChain(workDir);
    let gateway: StartedGateway | undefined;
    try {
      const { clinic, invoices } = await clinicWithInvoices(database.db, chain, count);
      const [backlog, last] = [invoices.slice(0, -1), invoices.at(-1)!];
      const startBlock = await chain.chain.getBlockNumber({ cacheTime: 0 });
      // Every payment in a block of its own with 20 empty blocks after it: with MAX_BLOCK_RANGE=5
      // ingesting the backlog takes about 165 passes, so a kill lands in the middle of it.
      let paidTotal = 0n;
      for (const invoice of backlog) {
        await pay(chain, invoice.deposit_address, BigInt(invoice.token_amount_due));
        paidTotal += BigInt(invoice.token_amount_due);
        await chain.testClient.mine({ blocks: 20 });
      }
      const env = gatewayEnv(chain, database.url, path.join(workDir, 'kill'), {
        CONFIRMATIONS: '2',
        MAX_BLOCK_RANGE: '5',
        WATCHER_POLL_MS: '100',
        WATCHER_START_BLOCK: startBlock.toString(),
      });

      const postedAtKill: number[] = [];
      for (const threshold of [Math.floor(backlog.length / 4), Math.floor((backlog.length * 2) / 3)]) {
        gateway = await startGatewayProcess(env, { ready: false });
        await waitFor(async () => (await confirmedPayments(database.db)) >= threshold, {
          what: `${threshold} payments to be posted`,
          timeoutMs: 60_000,
          intervalMs: 5,
        });
        expect(await stopGatewayProcess(gateway.process, 'SIGKILL')).toBe('SIGKILL');
        postedAtKill.push(await confirmedPayments(database.db));
        gateway = undefined;
      }
      // Killed mid-ingest both times: some payments posted, not all, more the second time.
      expect(postedAtKill[0]).toBeGreaterThanOrEqual(Math.floor(backlog.length / 4));
      expect(postedAtKill[1]).toBeGreaterThan(postedAtKill[0]!);
      expect(postedAtKill[1]).toBeLessThan(backlog.length);

      // The backlog done, one more payment arrives and is seen; the process dies before it is final.
      let liveSince = new Date();
      gateway = await startGatewayProcess(env);
      await waitUntilSettled(database.db, chain, backlog, liveSince);
      await pay(chain, last.deposit_address, BigInt(last.token_amount_due));
      paidTotal += BigInt(last.token_amount_due);
      await waitFor(async () => (await countWhere(database.db, `SELECT 1 FROM transfers WHERE invoice_id = ? AND status = 'pending'`, [last.id])) === 1, {
        what: 'the last payment to be seen',
        timeoutMs: 30_000,
      });
      expect(await stopGatewayProcess(gateway.process, 'SIGKILL')).toBe('SIGKILL');
      gateway = undefined;
      expect(await statuses(database.db, [last])).toEqual(['processing']);

      liveSince = new Date();
      gateway = await startGatewayProcess(env);
      await waitUntilSettled(database.db, chain, invoices, liveSince);
      expect(await stopGatewayProcess(gateway.process, 'SIGTERM')).toBe(0);
      gateway = undefined;

      await expectLedgerMatchesChain(database.db, chain, clinic, invoices, paidTotal);
      // Seen once, announced once, across the crash.
      expect(await countWhere(database.db, `SELECT 1 FROM webhook_events WHERE type = 'invoice.processing' AND payload->'object'->>'id' = ?`, [last.id])).toBe(
        1,
      );
    } finally {
      if (gateway) await stopGatewayProcess(gateway.process, 'SIGKILL');
      await chain.anvil.stop();
      await database.close();
    }
  });
});

describe('two gateway processes on one database', () => {
  it('elect one leader per worker, never double-post or double-flush, and the survivor takes over when the leader is killed', {
    timeout: 300_000,
  }, async () => {
    const database = await createTestDatabase();
    const chain = await startPrivateChain(workDir);
    const gateways: StartedGateway[] = [];
    try {
      const { clinic, invoices } = await clinicWithInvoices(database.db, chain, 10);
      const env = gatewayEnv(chain, database.url, path.join(workDir, 'two'), {
        CONFIRMATIONS: '2',
        WATCHER_POLL_MS: '100',
        WATCHER_START_BLOCK: (await chain.chain.getBlockNumber({ cacheTime: 0 })).toString(),
      });
      // Both at once, so they race for every lock.
      gateways.push(...(await Promise.all([startGatewayProcess(env), startGatewayProcess(env)])));
      const [a, b] = gateways as [StartedGateway, StartedGateway];
      expect(a.url).not.toBe(b.url);
      const leaders = () => [...leadershipAcquired(a.process.output()), ...leadershipAcquired(b.process.output())];
      await waitFor(() => WORKERS.every((worker) => leaders().includes(worker)), { what: 'every worker to have a leader', timeoutMs: 30_000 });

      let paidTotal = 0n;
      for (const invoice of invoices) {
        await pay(chain, invoice.deposit_address, BigInt(invoice.token_amount_due));
        paidTotal += BigInt(invoice.token_amount_due);
      }
      await waitUntilSettled(database.db, chain, invoices, new Date(0));

      // After all that work, each worker was still led by one process only, once.
      expect(leaders().sort()).toEqual([...WORKERS].sort());
      const { rows: locks } = (await database.db.raw(
        `SELECT l.objid::int AS key, count(*)::int AS holders FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND s.datname = current_database() GROUP BY l.objid ORDER BY 1`,
      )) as { rows: { key: number; holders: number }[] };
      expect(locks).toEqual(WORKERS.map((worker) => ({ key: LOCK_KEYS[worker], holders: 1 })).sort((x, y) => x.key - y.key));
      expect(await countWhere(database.db, `SELECT 1 FROM flush_requests WHERE status <> 'done'`)).toBe(0);
      await expectNoDoubleFlush(database.db, chain, invoices);
      await expectLedgerMatchesChain(database.db, chain, clinic, invoices, paidTotal);

      // The process leading the watcher is killed; the other takes over whatever it led.
      const [victim, survivor] = leadershipAcquired(a.process.output()).includes('watcher') ? [a, b] : [b, a];
      const survivorLedBefore = leadershipAcquired(survivor.process.output());
      expect(await stopGatewayProcess(victim.process, 'SIGKILL')).toBe('SIGKILL');
      await waitFor(() => WORKERS.every((worker) => leadershipAcquired(survivor.process.output()).includes(worker)), {
        what: 'the survivor to lead every worker',
        timeoutMs: 30_000,
      });
      expect(leadershipAcquired(survivor.process.output()).sort()).toEqual([...WORKERS].sort());
      expect(survivorLedBefore.length).toBeLessThan(WORKERS.length);

      const later = await moreInvoices(database.db, chain, clinic, 3);
      for (const invoice of later) {
        await pay(chain, invoice.deposit_address, BigInt(invoice.token_amount_due));
        paidTotal += BigInt(invoice.token_amount_due);
      }
      const all = [...invoices, ...later];
      await waitUntilSettled(database.db, chain, all, new Date(0));
      expect(await countWhere(database.db, `SELECT 1 FROM flush_requests WHERE status <> 'done'`)).toBe(0);
      expect(await stopGatewayProcess(survivor.process, 'SIGTERM')).toBe(0);

      await expectNoDoubleFlush(database.db, chain, all);
      await expectLedgerMatchesChain(database.db, chain, clinic, all, paidTotal);
    } finally {
      for (const gateway of gateways) await stopGatewayProcess(gateway.process, 'SIGKILL');
      await chain.anvil.stop();
      await database.close();
    }
  });
});

describe('the RPC node down while the gateway runs', () => {
  it('is reported by /ready, the process keeps serving, and after the node is back payments around the outage are credited', { timeout: 300_000 }, async () => {
    const database = await createTestDatabase();
    const stateFile = path.join(workDir, 'anvil-state.json');
    let chain = await startPrivateChain(workDir, { stateFile });
    let gateway: StartedGateway | undefined;
    try {
      const { clinic, invoices } = await clinicWithInvoices(database.db, chain, 2);
      const [before, after] = invoices as [InvoiceRow, InvoiceRow];
      gateway = await startGatewayProcess(
        gatewayEnv(chain, database.url, path.join(workDir, 'rpc'), {
          CONFIRMATIONS: '2',
          WATCHER_POLL_MS: '100',
          RPC_TIMEOUT_MS: '1000',
          WATCHER_START_BLOCK: (await chain.chain.getBlockNumber({ cacheTime: 0 })).toString(),
        }),
      );
      const url = gateway.url;

      // A payment seen but not yet final when the node goes away.
      await pay(chain, before.deposit_address, BigInt(before.token_amount_due));
      await waitFor(async () => (await statuses(database.db, [before]))[0] === 'processing', { what: 'the first payment to be seen', timeoutMs: 30_000 });

      await chain.anvil.stop();
      const notReady = await waitFor(
        async () => {
          const response = await fetch(`${url}/ready`);
          return response.status === 503
            ? ((await response.json()) as { detail: string; checks: { rpc: { ok: boolean }; database: { ok: boolean } } })
            : undefined;
        },
        { what: '/ready to report the node down', timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(notReady.detail).toMatch(/^rpc: /);
      expect(notReady.checks).toMatchObject({ rpc: { ok: false }, database: { ok: true } });
      expect((await fetch(`${url}/health`)).status).toBe(200);
      // The watcher fails a few passes and backs off; the process stays up.
      await waitFor(
        () =>
          gateway!.process
            .output()
            .split('\n')
            .filter((line) => line.includes('"worker":"watcher"') && line.includes('worker pass failed')).length >= 3,
        { what: 'the watcher to fail a few passes', timeoutMs: 30_000 },
      );
      expect(gateway.process.child.exitCode).toBeNull();
      expect((await fetch(`${url}/health`)).status).toBe(200);

      // The node back on the same port with the same chain.
      const port = chain.anvil.port;
      chain = { ...chain, anvil: await startAnvil({ logFile: path.join(workDir, 'anvil-restarted.log'), stateFile, port }) };
      await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, { what: '/ready to recover', timeoutMs: 30_000, intervalMs: 100 });

      await pay(chain, after.deposit_address, BigInt(after.token_amount_due));
      await waitUntilSettled(database.db, chain, invoices, new Date(0), 120_000);
      expect(await stopGatewayProcess(gateway.process, 'SIGTERM')).toBe(0);
      gateway = undefined;
      await expectLedgerMatchesChain(database.db, chain, clinic, invoices, BigInt(before.token_amount_due) + BigInt(after.token_amount_due));
    } finally {
      if (gateway) await stopGatewayProcess(gateway.process, 'SIGKILL');
      await chain.anvil.stop();
      await database.close();
    }
  });

  it('a flaky node (block and log requests cut now and then) is never taken for a reorg: nothing is reversed, everything is credited once', {
    timeout: 300_000,
  }, async () => {
    const database = await createTestDatabase();
    const chain = await startPrivateChain(workDir);
    const proxy = new FlakyRpcProxy(chain.rpcUrl);
    await proxy.start();
    let gateway: StartedGateway | undefined;
    try {
      const { clinic, invoices } = await clinicWithInvoices(database.db, chain, 6);
      const [early, late] = [invoices.slice(0, 3), invoices.slice(3)];
      gateway = await startGatewayProcess(
        gatewayEnv(chain, database.url, path.join(workDir, 'flaky'), {
          RPC_URL: proxy.url,
          CONFIRMATIONS: '2',
          WATCHER_POLL_MS: '100',
          WATCHER_START_BLOCK: (await chain.chain.getBlockNumber({ cacheTime: 0 })).toString(),
        }),
      );
      // Posted and swept while the network is fine: what a mistaken rollback would reverse.
      let paidTotal = 0n;
      for (const invoice of early) {
        await pay(chain, invoice.deposit_address, BigInt(invoice.token_amount_due));
        paidTotal += BigInt(invoice.token_amount_due);
      }
      await waitUntilSettled(database.db, chain, early, new Date(0));

      // Now one block or log request in eight is cut: many passes fail somewhere, some in the
      // reorg check itself, and enough get through for the watcher to make progress.
      proxy.failing = { methods: new Set(['eth_getBlockByNumber', 'eth_getLogs']), share: 1 / 8 };
      for (const invoice of late) {
        await pay(chain, invoice.deposit_address, BigInt(invoice.token_amount_due));
        paidTotal += BigInt(invoice.token_amount_due);
      }
      await waitUntilSettled(database.db, chain, invoices, new Date(0), 120_000);
      // Blocks keep coming while the network stays flaky, until enough requests were cut for some
      // of them to have been the reorg check's own.
      await waitFor(
        async () => {
          await chain.testClient.mine({ blocks: 1 });
          return (proxy.cut.get('eth_getBlockByNumber') ?? 0) >= 15;
        },
        { what: '15 block requests to be cut', timeoutMs: 120_000, intervalMs: 100 },
      );
      proxy.failing = undefined;
      await waitUntilSettled(database.db, chain, invoices, new Date(0));
      expect(await stopGatewayProcess(gateway.process, 'SIGTERM')).toBe(0);

      const reorgLines = gateway.process
        .output()
        .split('\n')
        .filter((line) => line.includes('reorg'));
      gateway = undefined;
      expect(reorgLines).toEqual([]);
      expect(await countWhere(database.db, `SELECT 1 FROM transfers WHERE status = 'reorged'`)).toBe(0);
      expect(await countWhere(database.db, `SELECT 1 FROM webhook_events WHERE type = 'payment.reorged'`)).toBe(0);
      await expectLedgerMatchesChain(database.db, chain, clinic, invoices, paidTotal);
    } finally {
      if (gateway) await stopGatewayProcess(gateway.process, 'SIGKILL');
      await proxy.stop();
      await chain.anvil.stop();
      await database.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Disaster recovery
// ---------------------------------------------------------------------------------------------

/** Runs `sql` as the cluster's superuser, after closing every other session of `database` (copying a database needs it idle). */
async function asSuperuser(database: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: inject('postgresAdminUrl') });
  await client.connect();
  try {
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
    await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('disaster recovery', () => {
  it("a database restored from a backup taken before some payments is brought back to the chain's truth by the watcher and a reconciliation, nothing posted twice", async () => {
    const chain = await startPrivateChain(workDir);
    const database = await createTestDatabase();
    const dataDir = tempDir('recovery-', workDir);
    const env = gatewayEnv(chain, database.url, dataDir);
    let gateway: StartedGateway | undefined;
    let db: Db = database.db;
    try {
      const { clinic, invoices } = await clinicWithInvoices(db, chain, 4);
      const [early, ...late] = invoices as [InvoiceRow, ...InvoiceRow[]];
      gateway = await startGatewayProcess(env);
      await pay(chain, early.deposit_address, BigInt(early.token_amount_due));
      await waitUntilSettled(db, chain, [early], new Date());
      await stopGatewayProcess(gateway.process);
      gateway = undefined;

      // Last night's backup: a copy of the database as it was.
      const backup = `${database.name}_backup`;
      await database.db.destroy();
      await asSuperuser(database.name, `CREATE DATABASE ${backup} TEMPLATE ${database.name}`);

      // The day goes on: the other patients pay; the gateway posts and forwards.
      db = createDb({ connectionString: database.url, poolMax: 3 });
      gateway = await startGatewayProcess(env);
      for (const invoice of late) await pay(chain, invoice.deposit_address, BigInt(invoice.token_amount_due));
      await waitUntilSettled(db, chain, invoices, new Date());
      await stopGatewayProcess(gateway.process);
      gateway = undefined;
      await db.destroy();

      // The database is lost and restored from the backup: it knows nothing of today's payments.
      await asSuperuser(database.name, `DROP DATABASE ${database.name}`);
      await asSuperuser(backup, `CREATE DATABASE ${database.name} TEMPLATE ${backup}`);
      db = createDb({ connectionString: database.url, poolMax: 3 });
      expect(new Set(await statuses(db, late))).toEqual(new Set(['open']));
      expect(await countWhere(db, `SELECT 1 FROM transfers`)).toBe(2); // the early payment and its forward

      // Restarted as it is: the watcher reads the chain again from the restored cursor.
      const restarted = performance.now();
      gateway = await startGatewayProcess(env);
      await waitUntilSettled(db, chain, invoices, new Date());
      const caughtUpSeconds = (performance.now() - restarted) / 1000;

      // A reconciliation over the whole chain finds nothing to fix.
      const finance = jwt.sign({ role: 'finance' }, env.JWT_SECRET!, {
        issuer: 'clinicpay',
        audience: 'clinicpay-api',
        subject: 'finance-recovery',
        expiresIn: '10m',
      });
      const headers = { authorization: `Bearer ${finance}`, 'content-type': 'application/json' };
      const started = await fetch(`${gateway.url}/v1/reconciliations`, {
        method: 'POST',
        headers: { ...headers, 'idempotency-key': 'recovery-run' },
        body: '{}',
      });
      expect(started.status, await started.clone().text()).toBe(202);
      const runId = ((await started.json()) as { id: string }).id;
      const run = await waitFor(
        async () => {
          const read = (await (await fetch(`${gateway!.url}/v1/reconciliations/${runId}`, { headers })).json()) as {
            status: string;
            counts: Record<string, number>;
          };
          return read.status === 'running' ? undefined : read;
        },
        { what: 'the reconciliation to finish', timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(run.status).toBe('completed');
      expect(run.counts).toMatchObject({ exceptions: 0, new_exceptions: 0, balance_mismatches: 0 });

      const paidTotal = invoices.reduce((sum, invoice) => sum + BigInt(invoice.token_amount_due), 0n);
      await expectLedgerMatchesChain(db, chain, clinic, invoices, paidTotal);
      await expectNoDoubleFlush(db, chain, invoices, { everyRelayerTransactionRecorded: false });
      console.log(`disaster recovery: the restored gateway caught up with ${late.length} payments and their forwarding in ${caughtUpSeconds.toFixed(1)} s`);
    } finally {
      if (gateway) await stopGatewayProcess(gateway.process, 'SIGKILL');
      await db.destroy();
      await chain.anvil.stop();
    }
  }, 90_000); // Three gateway starts and a database restore: 20–25 s alone, more on a busy machine.
});
