/**
 * Settlement on a real anvil and Postgres: the watcher turns payments into invoice states and
 * journal entries once they are final, the flusher sweeps deposits to the clinic, and faults
 * (late and stray payments, replays, a node that goes away, two gateways at once) never make
 * the ledger drift from the chain. Each describe block has an anvil and a database of its own;
 * the ledger's invariants are checked against the chain after every scenario.
 */
import { createWalletClient, type Hex, http, parseEther, parseUnits } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testHKDAbi } from '../contracts/artifacts/TestHKD.js';
import { voidInvoice } from '../src/billing/invoices.js';
import { accountBalances, invoiceDepositBalance } from '../src/ledger/ledger.js';
import { createDb } from '../src/platform/db.js';
import { withTransaction } from '../src/platform/transaction.js';
import { type SyncResult, syncOnce } from '../src/settlement/watcher.js';
import { TEST_ACTOR } from './support/app.js';
import { deployTestToken, fundedAccount, mint } from './support/chain.js';
import {
  anvilRpc,
  balanceOf,
  CONFIRMATIONS,
  cursorOf,
  entriesOf,
  entryCount,
  expectLedgerInvariants,
  flush,
  head,
  mine,
  newClinic,
  newInvoice,
  pay,
  type RpcProxy,
  readInvoice,
  restartAnvil,
  type SettlementEnv,
  type SettlementEnvOptions,
  settle,
  signPayment,
  startRpcProxy,
  startSettlementEnv,
  startWatcherHere,
  syncUntilCaughtUp,
  transfersOf,
  watcher,
  webhookEvents,
  webhookTypes,
} from './support/settlement.js';

/** One env per describe block: its own anvil and database, the watcher's cursor at its start. */
function useEnv(options: () => SettlementEnvOptions = () => ({})): () => SettlementEnv {
  let env: SettlementEnv | undefined;
  beforeAll(async () => {
    env = await startSettlementEnv(options());
    await startWatcherHere(env);
  });
  afterAll(async () => env?.close());
  return () => env!;
}

const admin = { sub: 'test-admin', role: 'platform_admin', clinicId: undefined } as const;

/** Rows in every table the watcher writes. */
async function rowCounts(e: SettlementEnv): Promise<Record<string, string>> {
  const tables = ['chain_blocks', 'transfers', 'journal_entries', 'postings', 'webhook_events', 'flush_requests'];
  const counts = await Promise.all(tables.map(async (table) => [table, ((await e.db(table).count({ n: '*' }).first()) as { n: string }).n] as const));
  return Object.fromEntries(counts);
}

describe('an exact payment', () => {
  const env = useEnv();

  it('is processing until final, then paid and posted once, then forwarded to the clinic and posted once', async () => {
    const e = env();
    const deps = watcher(e);
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic, { amount: '12.34' });
    const due = BigInt(invoice.token_amount_due);
    expect(due).toBe(12_340_000n);

    const payment = await pay(e, invoice.deposit_address, due);
    const seen = await syncUntilCaughtUp(deps);
    expect(seen.head).toBe(payment.blockNumber);
    expect(await readInvoice(e, invoice.id)).toMatchObject({
      status: 'processing',
      token_amount_pending: due.toString(),
      token_amount_paid: '0',
      paid_at: null,
    });
    expect(await entriesOf(e.db, invoice.id)).toEqual([]);
    expect(await webhookTypes(e.db, clinic.id)).toEqual(['invoice.processing']);

    // One block short of the confirmation depth: still not final.
    await mine(e, CONFIRMATIONS - 2);
    await syncUntilCaughtUp(deps);
    expect((await readInvoice(e, invoice.id)).status).toBe('processing');
    expect(await entriesOf(e.db, invoice.id)).toEqual([]);

    // head = payment block + confirmations - 1: final.
    await mine(e, 1);
    await syncUntilCaughtUp(deps);
    const paid = await readInvoice(e, invoice.id);
    expect(paid).toMatchObject({ status: 'paid', token_amount_paid: due.toString(), token_amount_pending: '0' });
    expect(paid.paid_at).toBeInstanceOf(Date);
    const [entry, ...others] = await entriesOf(e.db, invoice.id);
    expect(others).toEqual([]);
    expect(entry).toMatchObject({ kind: 'payment', reverses_entry_id: null });
    expect(entry!.postings).toEqual(
      expect.arrayContaining([
        { account: 'deposits', amount: due },
        { account: 'patient_payments', amount: -due },
      ]),
    );
    expect(entry!.postings).toHaveLength(2);
    const [transfer] = await transfersOf(e.db, invoice.id);
    expect(transfer).toMatchObject({ kind: 'payment', status: 'confirmed', flag: null, tx_hash: payment.txHash.toLowerCase(), amount: due.toString() });
    expect(await webhookTypes(e.db, clinic.id)).toEqual(['invoice.processing', 'invoice.paid']);
    const [paidEvent] = await webhookEvents(e.db, clinic.id, 'invoice.paid');
    expect(paidEvent!.object).toMatchObject({ id: invoice.id, status: 'paid', token_amount_paid: due.toString() });
    expect(JSON.stringify(paidEvent)).not.toContain('Consultation');
    await expectLedgerInvariants(e);

    // The flusher sweeps the deposit to the clinic's wallet.
    expect(await flush(e)).toEqual({ flushed: 1, retried: 0, failed: 0 });
    expect(await balanceOf(e, invoice.deposit_address)).toBe(0n);
    expect(await balanceOf(e, clinic.wallet)).toBe(due);
    expect(await e.db('flush_requests').where({ invoice_id: invoice.id }).first()).toMatchObject({ status: 'done', attempts: 1 });

    // The watcher sees the forward at once and posts it when it is final.
    await syncUntilCaughtUp(deps);
    expect((await entriesOf(e.db, invoice.id)).map((row) => row.kind)).toEqual(['payment']);
    await settle(e, deps);
    const forward = (await entriesOf(e.db, invoice.id)).filter((row) => row.kind === 'forward');
    expect(forward).toHaveLength(1);
    expect(forward[0]!.postings).toEqual(
      expect.arrayContaining([
        { account: 'settlement', amount: due },
        { account: 'deposits', amount: -due },
      ]),
    );
    expect(await invoiceDepositBalance(e.db, invoice.id)).toBe(0n);
    const balances = await accountBalances(e.db, clinic.id);
    expect(Object.fromEntries(balances.map((account) => [account.kind, account.balance]))).toEqual({ deposits: 0n, settlement: due, patient_payments: -due });
    expect(await webhookTypes(e.db, clinic.id)).toEqual(['invoice.processing', 'invoice.paid', 'settlement.forwarded']);
    expect((await transfersOf(e.db, invoice.id)).map((row) => [row.kind, row.status])).toEqual([
      ['payment', 'confirmed'],
      ['forward', 'confirmed'],
    ]);
    await expectLedgerInvariants(e);
  });
});

describe('matching amounts', () => {
  const env = useEnv();

  it('a short payment is underpaid; a top-up before expiry completes it', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic, { amount: '100.00' });
    const due = BigInt(invoice.token_amount_due);

    await pay(e, invoice.deposit_address, due - 1_000_000n);
    await settle(e);
    expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'underpaid', token_amount_paid: (due - 1_000_000n).toString(), paid_at: null });
    expect(await e.db('flush_requests').where({ invoice_id: invoice.id })).toEqual([]);

    await pay(e, invoice.deposit_address, 1_000_000n);
    await syncUntilCaughtUp(watcher(e));
    expect((await readInvoice(e, invoice.id)).status).toBe('processing');
    await settle(e);
    expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: due.toString(), token_amount_pending: '0' });
    expect((await entriesOf(e.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment', 'payment']);
    expect(await webhookTypes(e.db, clinic.id)).toEqual(['invoice.processing', 'invoice.underpaid', 'invoice.processing', 'invoice.paid']);
    await expectLedgerInvariants(e);
  });

  it('an over payment is overpaid, with the excess recorded', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic);
    const due = BigInt(invoice.token_amount_due);

    await pay(e, invoice.deposit_address, due + 5_000n);
    await settle(e);
    expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'overpaid', token_amount_paid: (due + 5_000n).toString() });
    const [event] = await webhookEvents(e.db, clinic.id, 'invoice.overpaid');
    expect(event!.object.payment).toMatchObject({ amount: (due + 5_000n).toString(), excess: '5000' });
    await expectLedgerInvariants(e);
  });

  it('the payment tolerance decides what counts as exact', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const within = await newInvoice(e, clinic);
    const beyond = await newInvoice(e, clinic);
    const due = BigInt(within.token_amount_due);

    await pay(e, within.deposit_address, due - 5n);
    await pay(e, beyond.deposit_address, due - 6n);
    await settle(e, watcher(e, { tolerance: 5n }));
    expect(await readInvoice(e, within.id)).toMatchObject({ status: 'paid', token_amount_paid: (due - 5n).toString() });
    expect(await readInvoice(e, beyond.id)).toMatchObject({ status: 'underpaid', token_amount_paid: (due - 6n).toString() });
    await expectLedgerInvariants(e);
  });

  it('a second payment into a paid invoice makes it overpaid and is flagged after_settled', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic);
    const due = BigInt(invoice.token_amount_due);

    await pay(e, invoice.deposit_address, due);
    await settle(e);
    await pay(e, invoice.deposit_address, 700n);
    await settle(e);
    expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'overpaid', token_amount_paid: (due + 700n).toString(), token_amount_pending: '0' });
    expect((await transfersOf(e.db, invoice.id)).map((row) => row.flag)).toEqual([null, 'after_settled']);
    expect((await entriesOf(e.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment', 'payment']);
    expect(await webhookTypes(e.db, clinic.id)).toEqual(['invoice.processing', 'invoice.paid', 'invoice.overpaid']);
    await expectLedgerInvariants(e);
  });

  it('a payment into a voided invoice is recorded, credited to the ledger and flagged void_invoice', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic);
    const due = BigInt(invoice.token_amount_due);
    await withTransaction(e.db, (trx) => voidInvoice(trx, TEST_ACTOR, admin, invoice.id));

    await pay(e, invoice.deposit_address, due);
    await settle(e);
    expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'void', token_amount_paid: due.toString(), token_amount_pending: '0' });
    expect((await transfersOf(e.db, invoice.id)).map((row) => [row.status, row.flag])).toEqual([['confirmed', 'void_invoice']]);
    expect((await entriesOf(e.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    expect(await webhookTypes(e.db, clinic.id)).toContain('payment.void_invoice');
    // What arrived belongs to the clinic: it is swept like any other payment.
    expect(await e.db('flush_requests').where({ invoice_id: invoice.id }).first()).toMatchObject({ status: 'pending' });
    await flush(e);
    await settle(e);
    expect(await balanceOf(e, clinic.wallet)).toBe(due);
    await expectLedgerInvariants(e);
  });
});

describe('late payments', () => {
  const env = useEnv();

  it('a payment in a block after expires_at is recorded and credited on an expired invoice, flagged late', async () => {
    const e = env();
    const deps = watcher(e);
    const clinic = await newClinic(e);
    // One the watcher has not yet marked expired when the payment arrives, one it has.
    const unnoticed = await newInvoice(e, clinic, { expiresInMinutes: 5 });
    const marked = await newInvoice(e, clinic, { expiresInMinutes: 5 });
    const due = BigInt(unnoticed.token_amount_due);
    await syncUntilCaughtUp(deps);

    await e.chain.testClient.increaseTime({ seconds: 600 });
    const late = await pay(e, unnoticed.deposit_address, due);
    const block = await e.chain.publicClient.getBlock({ blockNumber: late.blockNumber });
    expect(Number(block.timestamp) * 1000).toBeGreaterThan(unnoticed.expires_at.getTime());
    await settle(e, deps);
    expect((await readInvoice(e, marked.id)).status).toBe('expired');
    await pay(e, marked.deposit_address, due);
    await settle(e, deps);

    for (const invoice of [unnoticed, marked]) {
      const row = await readInvoice(e, invoice.id);
      expect(row).toMatchObject({ status: 'expired', token_amount_paid: due.toString(), token_amount_pending: '0', paid_at: null });
      expect(row.expired_at).toEqual(invoice.expires_at);
      expect((await transfersOf(e.db, invoice.id)).map((transfer) => [transfer.status, transfer.flag])).toEqual([['confirmed', 'late']]);
      expect((await entriesOf(e.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    }
    const lateEvents = await webhookEvents(e.db, clinic.id, 'payment.late');
    expect(lateEvents.map((event) => event.object.id).sort()).toEqual([unnoticed.id, marked.id].sort());
    expect((await webhookEvents(e.db, clinic.id, 'invoice.expired')).map((event) => event.object.id).sort()).toEqual([unnoticed.id, marked.id].sort());

    // The late money belongs to the clinic too.
    await flush(e);
    await settle(e, deps);
    expect(await balanceOf(e, clinic.wallet)).toBe(2n * due);
    await expectLedgerInvariants(e);
  });
});

describe('replays and duplicates', () => {
  let proxy: RpcProxy;
  beforeAll(async () => {
    proxy = await startRpcProxy();
  });
  afterAll(async () => proxy?.close());
  const env = useEnv(() => ({ proxy }));

  async function paidInvoice(e: SettlementEnv) {
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic);
    const payment = await pay(e, invoice.deposit_address, BigInt(invoice.token_amount_due));
    await settle(e);
    expect((await readInvoice(e, invoice.id)).status).toBe('paid');
    return { clinic, invoice, payment };
  }

  async function snapshotOf(e: SettlementEnv, invoiceId: string, clinicId: string) {
    const { status, token_amount_paid, token_amount_pending } = await readInvoice(e, invoiceId);
    return {
      status,
      token_amount_paid,
      token_amount_pending,
      entries: await entryCount(e.db),
      webhooks: await webhookTypes(e.db, clinicId),
      transfers: (await transfersOf(e.db, invoiceId)).length,
    };
  }

  it('reading the same blocks again (cursor moved back) posts nothing twice', async () => {
    const e = env();
    const { clinic, invoice, payment } = await paidInvoice(e);
    const before = await snapshotOf(e, invoice.id, clinic.id);

    await e
      .db('chain_cursors')
      .where({ chain_id: e.network.chainId })
      .update({ last_block: (payment.blockNumber - 2n).toString() });
    await settle(e);
    expect(await snapshotOf(e, invoice.id, clinic.id)).toEqual(before);
    await expectLedgerInvariants(e);
  });

  it('duplicated and reordered logs from the node post nothing twice', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const invoices = [await newInvoice(e, clinic), await newInvoice(e, clinic, { amount: '50.00' })];
    // The second invoice is paid in two parts, so the order of its logs matters to nobody.
    await pay(e, invoices[0]!.deposit_address, BigInt(invoices[0]!.token_amount_due));
    await pay(e, invoices[1]!.deposit_address, 20_000_000n);
    await pay(e, invoices[1]!.deposit_address, 30_000_000n);

    proxy.rewriteLogs = (logs) => [...logs].reverse().flatMap((log) => [log, log]);
    try {
      await syncUntilCaughtUp(watcher(e));
      expect(await readInvoice(e, invoices[1]!.id)).toMatchObject({ status: 'processing', token_amount_pending: '50000000' });
      await settle(e);
    } finally {
      proxy.rewriteLogs = undefined;
    }
    for (const invoice of invoices) {
      expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: invoice.token_amount_due, token_amount_pending: '0' });
    }
    expect((await entriesOf(e.db, invoices[0]!.id)).length).toBe(1);
    expect((await entriesOf(e.db, invoices[1]!.id)).length).toBe(2);
    expect(await webhookTypes(e.db, clinic.id)).toEqual(['invoice.processing', 'invoice.processing', 'invoice.paid', 'invoice.paid']);
    await expectLedgerInvariants(e);
  });

  it('takes the time of a block from its logs, or from the block when the node puts none in them: the same time either way', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const withTime = await newInvoice(e, clinic);
    const withoutTime = await newInvoice(e, clinic);
    const first = await pay(e, withTime.deposit_address, BigInt(withTime.token_amount_due));
    await syncUntilCaughtUp(watcher(e));
    const second = await pay(e, withoutTime.deposit_address, BigInt(withoutTime.token_amount_due));
    const headersBefore = proxy.calls.get('eth_getBlockByNumber') ?? 0;
    proxy.rewriteLogs = (logs) =>
      logs.map((log) => Object.fromEntries(Object.entries(log as Record<string, unknown>).filter(([key]) => key !== 'blockTimestamp')));
    try {
      await syncUntilCaughtUp(watcher(e));
    } finally {
      proxy.rewriteLogs = undefined;
    }
    // The payment's own block was asked for, besides the blocks every pass asks for.
    expect((proxy.calls.get('eth_getBlockByNumber') ?? 0) - headersBefore).toBeGreaterThanOrEqual(2);
    for (const [invoice, payment] of [
      [withTime, first],
      [withoutTime, second],
    ] as const) {
      const block = await e.chain.publicClient.getBlock({ blockNumber: payment.blockNumber });
      const stored = await e.db('transfers').where({ invoice_id: invoice.id }).select('block_timestamp', 'block_hash');
      expect(stored).toEqual([{ block_timestamp: new Date(Number(block.timestamp) * 1000), block_hash: block.hash }]);
    }
    await settle(e);
    for (const invoice of [withTime, withoutTime]) expect((await readInvoice(e, invoice.id)).status).toBe('paid');
    await expectLedgerInvariants(e);
  });

  it('a range with more transfers than a batch is stored batch by batch, in whole blocks, each transfer once', async () => {
    const e = env();
    const clinic = await newClinic(e);
    const invoices = [];
    for (let i = 0; i < 5; i += 1) invoices.push(await newInvoice(e, clinic, { amount: `${20 + i}.00` }));
    // Three payments in one block: more than a batch of two, and a block is never split.
    const hashes: Hex[] = [];
    await anvilRpc(e, 'evm_setAutomine', [false]);
    try {
      for (const invoice of invoices.slice(0, 3)) {
        const raw = await signPayment(e, invoice.deposit_address, BigInt(invoice.token_amount_due));
        hashes.push(await e.chain.publicClient.sendRawTransaction({ serializedTransaction: raw }));
      }
      await mine(e, 1);
    } finally {
      await anvilRpc(e, 'evm_setAutomine', [true]);
    }
    const blocks = [];
    for (const hash of hashes) blocks.push((await e.chain.publicClient.getTransactionReceipt({ hash })).blockNumber);
    const later = [];
    for (const invoice of invoices.slice(3)) later.push(await pay(e, invoice.deposit_address, BigInt(invoice.token_amount_due)));
    blocks.push(...later.map((payment) => payment.blockNumber));
    expect(new Set(blocks).size).toBe(3);

    // The second batch is refused: the first stays stored, the cursor at its last block, never inside a block.
    const deps = watcher(e, { storeBatchSize: 2 });
    await e.testDb.owner.raw(`
      CREATE FUNCTION refuse_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.tx_hash = '${later[0]!.txHash.toLowerCase()}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_transfer BEFORE INSERT ON transfers FOR EACH ROW EXECUTE FUNCTION refuse_transfer();
    `);
    try {
      await expect(syncOnce(deps)).rejects.toThrow(/refused/);
    } finally {
      await e.testDb.owner.raw('DROP TRIGGER refuse_transfer ON transfers; DROP FUNCTION refuse_transfer()');
    }
    expect(await cursorOf(e)).toBe(blocks[0]);
    for (const [index, invoice] of invoices.entries()) expect(await transfersOf(e.db, invoice.id)).toHaveLength(index < 3 ? 1 : 0);

    const result = await syncUntilCaughtUp(deps);
    expect(result.cursor).toBe(await head(e));
    for (const invoice of invoices) expect(await transfersOf(e.db, invoice.id)).toHaveLength(1);
    await settle(e, deps);
    for (const invoice of invoices) {
      expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: invoice.token_amount_due, token_amount_pending: '0' });
      expect(await entriesOf(e.db, invoice.id)).toHaveLength(1);
    }
    const types = await webhookTypes(e.db, clinic.id);
    expect(types.filter((type) => type === 'invoice.processing')).toHaveLength(invoices.length);
    expect(types.filter((type) => type === 'invoice.paid')).toHaveLength(invoices.length);
    await expectLedgerInvariants(e);
  });

  it('confirming a transfer that was already posted changes nothing (the confirmation path run twice)', async () => {
    const e = env();
    const { clinic, invoice } = await paidInvoice(e);
    const before = await snapshotOf(e, invoice.id, clinic.id);

    // As if the confirmation ran again for the same transfer in the same block (a retried pass,
    // or the block coming back after a reorg away from it): its journal entry exists already.
    await e.db('transfers').where({ invoice_id: invoice.id }).update({ status: 'pending', confirmed_at: null, flag: null });
    await syncUntilCaughtUp(watcher(e));
    expect(await entryCount(e.db)).toBe(before.entries);
    expect(await snapshotOf(e, invoice.id, clinic.id)).toEqual(before);
    await expectLedgerInvariants(e);
  });
});

describe('the node goes away', () => {
  const env = useEnv(() => ({ persistState: true }));

  it('while it is down a pass fails without writing; back up, the watcher resumes from its cursor and misses nothing', async () => {
    const e = env();
    const deps = watcher(e);
    await syncUntilCaughtUp(deps);
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic);
    const due = BigInt(invoice.token_amount_due);
    // Paid while the watcher was not looking, several blocks ago.
    await pay(e, invoice.deposit_address, due);
    await mine(e, 5);
    const cursor = await cursorOf(e);
    const chainHead = await head(e);
    const rowsBefore = await rowCounts(e);

    await e.anvil.stop();
    await expect(syncOnce(deps)).rejects.toThrow();
    await expect(syncOnce(deps)).rejects.toThrow();
    expect(await cursorOf(e)).toBe(cursor);
    expect(await rowCounts(e)).toEqual(rowsBefore);
    expect((await readInvoice(e, invoice.id)).status).toBe('open');

    // The same node back on the same port with the same chain.
    await restartAnvil(e);
    expect(await head(e)).toBe(chainHead);
    const result = await syncUntilCaughtUp(deps);
    expect(result.rolledBackTo).toBeUndefined();
    expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: due.toString() });
    expect((await entriesOf(e.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    await expectLedgerInvariants(e);
  });

  it('catches up after downtime: 20 payments over 200 blocks, read in bounded ranges, each credited once', async () => {
    const e = env();
    const deps = watcher(e, { finality: { confirmations: CONFIRMATIONS, useFinalizedTag: false, maxBlockRange: 16n } });
    await syncUntilCaughtUp(deps);
    const clinic = await newClinic(e);
    const invoices = [];
    for (let i = 0; i < 20; i += 1) {
      const invoice = await newInvoice(e, clinic, { amount: `${i + 1}.00` });
      invoices.push(invoice);
      await pay(e, invoice.deposit_address, BigInt(invoice.token_amount_due));
      await mine(e, 9);
    }
    const entriesBefore = await entryCount(e.db);

    const passes: SyncResult[] = [];
    let previous = (await cursorOf(e))!;
    for (;;) {
      const result = await syncOnce(deps);
      expect(result.cursor - previous).toBeLessThanOrEqual(16n);
      previous = result.cursor;
      passes.push(result);
      if (result.cursor === result.head) break;
    }
    expect(passes.length).toBeGreaterThanOrEqual(200 / 16);
    await settle(e, deps);

    for (const invoice of invoices) {
      expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: invoice.token_amount_due, token_amount_pending: '0' });
    }
    expect(await entryCount(e.db)).toBe(entriesBefore + 20);
    expect(
      await e
        .db('transfers')
        .whereIn(
          'invoice_id',
          invoices.map((invoice) => invoice.id),
        )
        .where({ status: 'confirmed' })
        .count({ n: '*' })
        .first(),
    ).toEqual({ n: '20' });
    await expectLedgerInvariants(e);
  });
});

describe('a node that fails some calls', () => {
  let proxy: RpcProxy;
  beforeAll(async () => {
    proxy = await startRpcProxy();
  });
  afterAll(async () => proxy?.close());
  const env = useEnv(() => ({ proxy }));

  it('failing block lookups during the reorg check are not a reorg: nothing is rolled back or reversed', async () => {
    const e = env();
    const deps = watcher(e);
    const clinic = await newClinic(e);
    const invoice = await newInvoice(e, clinic);
    const due = BigInt(invoice.token_amount_due);
    await pay(e, invoice.deposit_address, due);
    await settle(e, deps);
    expect((await readInvoice(e, invoice.id)).status).toBe('paid');
    await mine(e, 1);

    // The node answers eth_blockNumber and eth_getLogs but not block headers (overloaded, rate limited).
    proxy.failing.add('eth_getBlockByNumber');
    try {
      await expect(syncOnce(deps)).rejects.toThrow();
    } finally {
      proxy.failing.clear();
    }
    // Soft, so that the end state after the node recovers is reported too.
    expect.soft(await webhookTypes(e.db, clinic.id)).toEqual(['invoice.processing', 'invoice.paid']);
    expect.soft((await entriesOf(e.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    expect.soft((await readInvoice(e, invoice.id)).status).toBe('paid');

    await settle(e, deps);
    expect.soft(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: due.toString() });
    expect.soft((await entriesOf(e.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    await expectLedgerInvariants(e);
  });
});

describe('tokens', () => {
  it.each([
    [6, 12_340_000n],
    [18, 12_340_000_000_000_000_000n],
  ])('with %i decimals an invoice of 12.34 HKD is due, paid, posted and forwarded in base units', async (decimals, units) => {
    const e = await startSettlementEnv({ decimals });
    try {
      await startWatcherHere(e);
      const clinic = await newClinic(e);
      const invoice = await newInvoice(e, clinic, { amount: '12.34' });
      expect(invoice).toMatchObject({ token_decimals: decimals, token_amount_due: units.toString() });
      expect(units).toBe(parseUnits('12.34', decimals));

      await pay(e, invoice.deposit_address, units);
      await settle(e);
      expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: units.toString() });
      expect((await entriesOf(e.db, invoice.id))[0]!.postings).toEqual(expect.arrayContaining([{ account: 'deposits', amount: units }]));
      await flush(e);
      await settle(e);
      expect(await balanceOf(e, clinic.wallet)).toBe(units);
      await expectLedgerInvariants(e);
    } finally {
      await e.close();
    }
  });

  describe('that are not ours, or leave a deposit without a flush', () => {
    const env = useEnv();

    async function payWithOtherToken(e: SettlementEnv) {
      const clinic = await newClinic(e);
      const invoice = await newInvoice(e, clinic);
      const other = await deployTestToken(e.chain, e.owner, 6);
      await mint(e.chain, e.owner, other, e.payer.address, BigInt(invoice.token_amount_due));
      await pay(e, invoice.deposit_address, BigInt(invoice.token_amount_due), { token: other });
      await settle(e);
      return { clinic, invoice, other };
    }

    it('a transfer of another token to a deposit address is not credited', async () => {
      const e = env();
      const { clinic, invoice, other } = await payWithOtherToken(e);
      expect(await balanceOf(e, invoice.deposit_address, other)).toBe(BigInt(invoice.token_amount_due));
      expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'open', token_amount_paid: '0', token_amount_pending: '0' });
      expect(await entriesOf(e.db, invoice.id)).toEqual([]);
      expect(await webhookTypes(e.db, clinic.id)).toEqual([]);
      await expectLedgerInvariants(e);
    });

    it('a transfer of another token to a deposit address is recorded as foreign_token (issue 4: "recorded, not credited")', async () => {
      const e = env();
      const { invoice, other } = await payWithOtherToken(e);
      expect((await transfersOf(e.db, invoice.id)).map((row) => [row.kind, row.token_address, row.amount])).toEqual([
        ['foreign_token', other.toLowerCase(), invoice.token_amount_due],
      ]);
    });

    it('another token is recorded only at deposit addresses of the last 30 days, and never at an address that is not ours', async () => {
      const e = env();
      const clinic = await newClinic(e);
      const recent = await newInvoice(e, clinic);
      const old = await newInvoice(e, clinic);
      await e
        .db('invoices')
        .where({ id: old.id })
        .update({ created_at: e.db.raw(`now() - interval '31 days'`) });
      const other = await deployTestToken(e.chain, e.owner, 6);
      await mint(e.chain, e.owner, other, e.payer.address, 3_000_000n);
      const stranger = privateKeyToAccount(generatePrivateKey()).address;
      await pay(e, recent.deposit_address, 1_000_000n, { token: other });
      await pay(e, old.deposit_address, 1_000_000n, { token: other });
      await pay(e, stranger, 1_000_000n, { token: other });
      await settle(e);
      expect((await transfersOf(e.db, recent.id)).map((row) => [row.kind, row.token_address, row.amount])).toEqual([
        ['foreign_token', other.toLowerCase(), '1000000'],
      ]);
      expect(await transfersOf(e.db, old.id)).toEqual([]);
      expect(await e.db('transfers').where({ to_address: stranger.toLowerCase() })).toEqual([]);
      await expectLedgerInvariants(e);
    });

    it('a transfer out of a deposit address that is not our flush is not counted as settled to the clinic', async () => {
      const e = env();
      const clinic = await newClinic(e);
      const invoice = await newInvoice(e, clinic);
      const due = BigInt(invoice.token_amount_due);
      await pay(e, invoice.deposit_address, due);
      await settle(e);

      // Funds leave the deposit address for someone other than the clinic (in the wild: an
      // issuer's seizure or burn; here: anvil impersonating the address).
      const elsewhere = privateKeyToAccount(generatePrivateKey()).address;
      const deposit = invoice.deposit_address as `0x${string}`;
      await e.chain.testClient.impersonateAccount({ address: deposit });
      await e.chain.testClient.setBalance({ address: deposit, value: parseEther('1') });
      const impersonated = createWalletClient({ account: deposit, chain: foundry, transport: http(e.anvil.rpcUrl) });
      const hash = await impersonated.writeContract({ address: e.token, abi: testHKDAbi, functionName: 'transfer', args: [elsewhere, due] });
      await e.chain.publicClient.waitForTransactionReceipt({ hash });
      await e.chain.testClient.stopImpersonatingAccount({ address: deposit });
      await settle(e);

      expect(await balanceOf(e, clinic.wallet)).toBe(0n);
      expect(await transfersOf(e.db, invoice.id)).toHaveLength(2);
      const settled = (await accountBalances(e.db, clinic.id)).find((account) => account.kind === 'settlement')?.balance ?? 0n;
      expect.soft(settled, 'settlement account vs what reached the clinic wallet').toBe(0n);
      expect.soft(await webhookTypes(e.db, clinic.id)).not.toContain('settlement.forwarded');
    });
  });
});

describe('two gateway processes on one database', () => {
  const env = useEnv();

  it('two watchers at once post every payment once, and two flushers sweep every deposit once', async () => {
    const e = env();
    const second = createDb({ connectionString: e.testDb.url, poolMax: 5 });
    try {
      const clinic = await newClinic(e);
      const invoices = [];
      for (let i = 0; i < 5; i += 1) invoices.push(await newInvoice(e, clinic, { amount: `${10 + i}.00` }));
      for (const invoice of invoices) await pay(e, invoice.deposit_address, BigInt(invoice.token_amount_due));
      const entriesBefore = await entryCount(e.db);

      const watchers = [watcher(e), watcher(e, { db: second })];
      const runBoth = async () => {
        for (let pass = 0; pass < 50; pass += 1) {
          const results = await Promise.all(watchers.map((deps) => syncOnce(deps)));
          if (results.every((result) => result.cursor === result.head)) return;
        }
      };
      await runBoth();
      await mine(e, CONFIRMATIONS);
      await runBoth();
      await runBoth();

      expect(await entryCount(e.db)).toBe(entriesBefore + invoices.length);
      for (const invoice of invoices) {
        expect(await readInvoice(e, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: invoice.token_amount_due, token_amount_pending: '0' });
      }
      const types = await webhookTypes(e.db, clinic.id);
      expect(types.filter((type) => type === 'invoice.processing')).toHaveLength(invoices.length);
      expect(types.filter((type) => type === 'invoice.paid')).toHaveLength(invoices.length);
      await expectLedgerInvariants(e);

      // Two flushers, each with its own relayer key, at once.
      const otherRelayer = await fundedAccount(e.chain);
      const relayers = [e.relayer, otherRelayer];
      const noncesBefore = await Promise.all(relayers.map((relayer) => e.chain.publicClient.getTransactionCount({ address: relayer.address })));
      const flushed = await Promise.all([flush(e), flush(e, { db: second, relayer: otherRelayer })]);
      expect(flushed.reduce((sum, result) => sum + result.flushed, 0)).toBe(invoices.length);
      const noncesAfter = await Promise.all(relayers.map((relayer) => e.chain.publicClient.getTransactionCount({ address: relayer.address })));
      expect(noncesAfter[0]! - noncesBefore[0]! + noncesAfter[1]! - noncesBefore[1]!).toBe(1);
      const requests = (await e.db('flush_requests').whereIn(
        'invoice_id',
        invoices.map((invoice) => invoice.id),
      )) as { status: string; attempts: number; tx_hash: string }[];
      expect(requests.map((request) => [request.status, request.attempts])).toEqual(invoices.map(() => ['done', 1]));
      expect(new Set(requests.map((request) => request.tx_hash)).size).toBe(1);

      await mine(e, CONFIRMATIONS);
      await runBoth();
      await runBoth();
      expect(
        await e
          .db('transfers')
          .where({ kind: 'forward' })
          .whereIn(
            'invoice_id',
            invoices.map((invoice) => invoice.id),
          )
          .count({ n: '*' })
          .first(),
      ).toEqual({ n: String(invoices.length) });
      expect(await entryCount(e.db)).toBe(entriesBefore + 2 * invoices.length);
      expect(await balanceOf(e, clinic.wallet)).toBe(invoices.reduce((sum, invoice) => sum + BigInt(invoice.token_amount_due), 0n));
      await expectLedgerInvariants(e);
    } finally {
      await second.destroy();
    }
  });
});
