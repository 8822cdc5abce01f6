/**
 * Reconciliation runs on a real anvil and Postgres, through the API: the Reconciliation issue's
 * "Done when" (an overpayment, a late payment, a payment to a voided invoice and transfers from
 * nowhere each appear as exactly one exception of their type, with their evidence), repeated
 * runs, progress and counts, CSV exports, who may read what, and the bad input and
 * faults (ranges, a node that fails mid-run, a run racing the watcher, two runs at once); how a
 * run reads balances (through Multicall3, or one call each and why) and which deposit addresses
 * it compares (those the range touched and those the ledger says hold tokens).
 *
 * Each describe block has an anvil and a database of its own; the chain is driven by the test
 * (payments, mining, the watcher's passes and the flusher), never mocked.
 */
import { getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InvoiceRow, voidInvoice } from '../src/billing/invoices.js';
import { createChainClient } from '../src/chain/client.js';
import { initCursor } from '../src/chain/cursor.js';
import { freePort } from '../src/dev/processes.js';
import { ClinicPayError } from '../src/platform/errors.js';
import { createLogger } from '../src/platform/log.js';
import { withTransaction } from '../src/platform/transaction.js';
import { executeReconciliation, fullSweepIsDue, MAX_RECONCILIATION_RANGE, type ReconciliationDeps, startReconciliation } from '../src/recon/runs.js';
import { syncOnce } from '../src/settlement/watcher.js';
import { buildTestApp, CapturedLog, TEST_ACTOR, tokenFor } from './support/app.js';
import { deployTestToken, mint, testChain } from './support/chain.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import {
  confirmedHead,
  csvRecords,
  type ExceptionBody,
  exceptionCountsByType,
  exceptionOf,
  FINANCE_A,
  FINANCE_B,
  get,
  head,
  listExceptions,
  logger,
  payBehindWatcher,
  post,
  type ReconEnv,
  type RunBody,
  reconcile,
  reconDeps,
  settleAll,
  startAnvilAt,
  startReconEnv,
  waitForRun,
} from './support/recon.js';
import {
  balanceOf,
  expectLedgerInvariants,
  mine,
  newClinic,
  newInvoice,
  type Payment,
  pay,
  type RpcProxy,
  settle,
  startRpcProxy,
  type TestClinic,
  watcher,
} from './support/settlement.js';

const admin = { sub: 'test-admin', role: 'platform_admin', clinicId: undefined } as const;

const RUN_CSV_HEADER = [
  'run_id',
  'result',
  'clinic_id',
  'invoice_id',
  'tx_hash',
  'log_index',
  'block_number',
  'block_time',
  'token_address',
  'from_address',
  'to_address',
  'token_amount',
  'token_decimals',
  'hkd_amount',
  'rate',
  'exception_id',
];
const EXCEPTIONS_CSV_HEADER = [
  'exception_id',
  'type',
  'status',
  'clinic_id',
  'invoice_id',
  'tx_hash',
  'log_index',
  'block_number',
  'block_time',
  'token_amount',
  'token_decimals',
  'hkd_amount',
  'rate',
  'expected',
  'observed',
  'created_at',
  'resolved_at',
];

async function blockTime(r: ReconEnv, blockNumber: bigint): Promise<string> {
  const block = await r.env.chain.publicClient.getBlock({ blockNumber });
  return new Date(Number(block.timestamp) * 1000).toISOString();
}

describe('a run over a day of settled payments (the issue\'s "Done when")', () => {
  let r: ReconEnv;
  let clinicA: TestClinic;
  let clinicB: TestClinic;
  const invoices = {} as Record<'overpaid' | 'exact' | 'late' | 'voided' | 'nowhere' | 'foreign' | 'overpaidB', InvoiceRow>;
  const payments = {} as Record<'overpaid' | 'exact' | 'late' | 'voided' | 'nowhere' | 'foreign' | 'overpaidB', Payment>;
  let otherToken: `0x${string}`;
  let run1: RunBody;

  beforeAll(async () => {
    r = await startReconEnv();
    const e = r.env;
    clinicA = await newClinic(e);
    clinicB = await newClinic(e);
    invoices.overpaid = await newInvoice(e, clinicA, { amount: '12.34' });
    invoices.exact = await newInvoice(e, clinicA, { amount: '12.34' });
    invoices.late = await newInvoice(e, clinicA, { amount: '12.34', expiresInMinutes: 1 });
    invoices.voided = await newInvoice(e, clinicA, { amount: '12.34' });
    invoices.nowhere = await newInvoice(e, clinicA, { amount: '12.34' });
    invoices.foreign = await newInvoice(e, clinicA, { amount: '12.34' });
    invoices.overpaidB = await newInvoice(e, clinicB, { amount: '20.00' });
    await withTransaction(e.db, (trx) => voidInvoice(trx, TEST_ACTOR, admin, invoices.voided.id));

    payments.overpaid = await pay(e, invoices.overpaid.deposit_address, 15_000_000n);
    payments.exact = await pay(e, invoices.exact.deposit_address, 12_340_000n);
    payments.voided = await pay(e, invoices.voided.deposit_address, 12_340_000n);
    payments.overpaidB = await pay(e, invoices.overpaidB.deposit_address, 21_000_000n);
    // The chain's clock passes the late invoice's expiry before it is paid.
    await e.chain.testClient.increaseTime({ seconds: 120 });
    await mine(e, 1);
    payments.late = await pay(e, invoices.late.deposit_address, 12_340_000n);
    // Another token sent to a deposit address.
    otherToken = await deployTestToken(e.chain, e.owner, 18);
    await mint(e.chain, e.owner, otherToken, e.payer.address, 10n ** 24n);
    payments.foreign = await pay(e, invoices.foreign.deposit_address, 5n * 10n ** 18n, { token: otherToken });
    await settleAll(e);
    // A transfer from nowhere: on the chain, never read by the watcher.
    payments.nowhere = await payBehindWatcher(e, invoices.nowhere.deposit_address, 12_340_000n);
    await settle(e);
    run1 = await reconcile(r.app);
  });
  afterAll(async () => r?.env.close());

  it('the settlement under the run is what the scenario says it is', async () => {
    const statuses = Object.fromEntries(
      await Promise.all(
        Object.entries(invoices).map(async ([name, invoice]) => [
          name,
          ((await r.env.db('invoices').where({ id: invoice.id }).first('status')) as { status: string }).status,
        ]),
      ),
    );
    expect(statuses).toEqual({ overpaid: 'overpaid', exact: 'paid', late: 'expired', voided: 'void', nowhere: 'open', foreign: 'open', overpaidB: 'overpaid' });
    expect(await r.env.db('transfers').where({ tx_hash: payments.nowhere.txHash.toLowerCase() }).first()).toBeUndefined();
    const lateBlock = await r.env.chain.publicClient.getBlock({ blockNumber: payments.late.blockNumber });
    expect(Number(lateBlock.timestamp) * 1000).toBeGreaterThan(invoices.late.expires_at.getTime());
  });

  it('completes with progress 100 and counts of what it compared', async () => {
    expect(run1).toMatchObject({ object: 'reconciliation', status: 'completed', progress_percent: 100, error: null, requested_by: 'finance-alice' });
    expect(run1.finished_at).not.toBeNull();
    // The default range: from the first block the watcher read to the last block it has confirmed.
    expect(BigInt(run1.from_block)).toBeLessThanOrEqual(payments.overpaid.blockNumber);
    expect(BigInt(run1.to_block)).toBe(await confirmedHead(r.env));
    // Six payments in (one of another token, one the watcher never read), five forwards out.
    const forwards = (await r.env.db('transfers').where({ kind: 'forward' }).select('amount')) as { amount: string }[];
    expect(forwards).toHaveLength(5);
    // Balances: the seven deposit addresses touched, and the settlement wallets of the two clinics.
    expect(run1.counts).toMatchObject({ transfers_on_chain: 12, balances_checked: 9, balance_reads: 'multicall3' });
    expect(run1.counts).not.toHaveProperty('balance_reads_note');
    // Matched: every known transfer except the two the watcher flagged (late, void) and the two unknown ones.
    expect(run1.counts.matched).toBe(8);
    expect(run1.counts.exceptions).toBe(run1.counts.new_exceptions);
    expect(run1.counts.exceptions).toBe((await r.env.db('exceptions').where({ first_run_id: run1.id })).length);
    // Polled while running, a run shows how far it got; finished, it stays at 100.
    expect((await get(r.app, FINANCE_A, `/v1/reconciliations/${run1.id}`)).body).toMatchObject({ progress_percent: 100, status: 'completed' });
  });

  it('counts matched_amount over the transfers it counts as matched', async () => {
    const lines = (await r.env.db('reconciliation_lines').where({ run_id: run1.id }).select('result', r.env.db.raw('amount::text AS amount'))) as {
      result: string;
      amount: string;
    }[];
    const matched = lines.filter((line) => line.result === 'matched');
    expect(matched).toHaveLength(Number(run1.counts.matched));
    const matchedAmount = matched.reduce((sum, line) => sum + BigInt(line.amount), 0n);
    // overpaid 15.00 + exact 12.34 + overpaidB 21.00 in and their three forwards out, plus the
    // forwards of the late and the void payment (12.34 each): those payments are exceptions,
    // but sweeping them to the clinic is an ordinary, matched forward.
    expect(matchedAmount).toBe(2n * (15_000_000n + 12_340_000n + 21_000_000n) + 2n * 12_340_000n);
    expect(run1.counts.matched_amount).toBe(matchedAmount.toString());
  });

  it('an overpayment, a late payment, a payment to a voided invoice and transfers from nowhere each appear as exactly one exception of their type', async () => {
    const all = await listExceptions(r.app, FINANCE_A);
    const typesOf = (invoice: InvoiceRow) =>
      all.filter((exception) => exception.invoice_id === invoice.id && exception.type !== 'balance_mismatch').map((exception) => exception.type);
    expect({
      overpaid: typesOf(invoices.overpaid),
      exact: typesOf(invoices.exact),
      late: typesOf(invoices.late),
      voided: typesOf(invoices.voided),
      nowhere: typesOf(invoices.nowhere),
      foreign: typesOf(invoices.foreign),
      overpaidB: typesOf(invoices.overpaidB),
    }).toEqual({
      overpaid: ['overpayment'],
      exact: [],
      late: ['late_payment'],
      voided: ['payment_to_void_invoice'],
      nowhere: ['unknown_transfer'],
      foreign: ['unknown_transfer'],
      overpaidB: ['overpayment'],
    });
    // The only balance that differs is the deposit the transfer from nowhere went to.
    const mismatches = all.filter((exception) => exception.type === 'balance_mismatch');
    expect(mismatches.map((exception) => [exception.invoice_id, exception.expected, exception.observed])).toEqual([[invoices.nowhere.id, '0', '12340000']]);
    expect(all.every((exception) => exception.status === 'open' && exception.first_run_id === run1.id && exception.last_run_id === run1.id)).toBe(true);
    expect(await exceptionCountsByType(r.env.db)).toEqual({
      balance_mismatch: 1,
      late_payment: 1,
      overpayment: 2,
      payment_to_void_invoice: 1,
      unknown_transfer: 2,
    });
  });

  it('each exception carries its evidence: tx hash, block, amounts, token, payer and invoice', async () => {
    const payer = getAddress(r.env.payer.address);
    const late = await exceptionOf(r.app, 'late_payment', invoices.late.id);
    expect(late).toMatchObject({
      clinic_id: clinicA.id,
      tx_hash: payments.late.txHash.toLowerCase(),
      block_number: Number(payments.late.blockNumber),
      block_time: await blockTime(r, payments.late.blockNumber),
      amount: '12340000',
      token_address: getAddress(r.env.token),
      from_address: payer,
    });
    const voided = await exceptionOf(r.app, 'payment_to_void_invoice', invoices.voided.id);
    expect(voided).toMatchObject({
      tx_hash: payments.voided.txHash.toLowerCase(),
      block_number: Number(payments.voided.blockNumber),
      amount: '12340000',
      from_address: payer,
    });

    const [nowhere, foreign] = await Promise.all([
      exceptionOf(r.app, 'unknown_transfer', invoices.nowhere.id),
      exceptionOf(r.app, 'unknown_transfer', invoices.foreign.id),
    ]);
    expect(nowhere).toMatchObject({
      tx_hash: payments.nowhere.txHash.toLowerCase(),
      block_number: Number(payments.nowhere.blockNumber),
      amount: '12340000',
      from_address: payer,
      token_address: getAddress(r.env.token),
    });
    expect(foreign).toMatchObject({
      tx_hash: payments.foreign.txHash.toLowerCase(),
      block_number: Number(payments.foreign.blockNumber),
      amount: (5n * 10n ** 18n).toString(),
      token_address: getAddress(otherToken),
    });

    const overpaid = await exceptionOf(r.app, 'overpayment', invoices.overpaid.id);
    expect(overpaid).toMatchObject({ clinic_id: clinicA.id, amount: '2660000', expected: '12340000', observed: '15000000', from_address: payer });
    const overpaidB = await exceptionOf(r.app, 'overpayment', invoices.overpaidB.id);
    expect(overpaidB).toMatchObject({ clinic_id: clinicB.id, amount: '1000000' });

    // One read of a single exception says the same, with its (no) resolutions.
    const one = await get(r.app, FINANCE_B, `/v1/exceptions/${late.id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ ...late, resolutions: [] });
  });

  it('says why a transfer is unknown in `details`, a JSON object (as openapi.yaml declares it)', async () => {
    const [nowhere, foreign] = await Promise.all([
      exceptionOf(r.app, 'unknown_transfer', invoices.nowhere.id),
      exceptionOf(r.app, 'unknown_transfer', invoices.foreign.id),
    ]);
    expect(nowhere.details).toEqual({ reason: 'not_in_ledger', direction: 'payment' });
    expect(foreign.details).toEqual({ reason: 'unexpected_token', recorded: true });
    const kinds = (await r.env.db('exceptions').select(r.env.db.raw('DISTINCT jsonb_typeof(details) AS kind'))) as { kind: string }[];
    expect(kinds.map((row) => row.kind)).toEqual(['object']);
  });

  it('an overpayment names the transfer that overpaid (tx hash and block), like every other exception', async () => {
    const overpaid = await exceptionOf(r.app, 'overpayment', invoices.overpaid.id);
    expect({ tx_hash: overpaid.tx_hash, block_number: overpaid.block_number }).toEqual({
      tx_hash: payments.overpaid.txHash.toLowerCase(),
      block_number: Number(payments.overpaid.blockNumber),
    });
  });

  it('a second run over the same range gives the same counts and updates, never duplicates, the exceptions', async () => {
    const before = await listExceptions(r.app, FINANCE_A);
    const countsBefore = await exceptionCountsByType(r.env.db);
    const run2 = await reconcile(r.app, { from_block: run1.from_block, to_block: run1.to_block });
    expect(run2).toMatchObject({ status: 'completed', progress_percent: 100, from_block: run1.from_block, to_block: run1.to_block });
    expect(run2.id).not.toBe(run1.id);
    expect({ ...run2.counts, new_exceptions: undefined }).toEqual({ ...run1.counts, new_exceptions: undefined });
    expect(run2.counts.new_exceptions).toBe(0);
    expect(await exceptionCountsByType(r.env.db)).toEqual(countsBefore);
    const after = await listExceptions(r.app, FINANCE_A);
    expect(after.map((exception) => exception.id).sort()).toEqual(before.map((exception) => exception.id).sort());
    for (const exception of after) {
      expect({ id: exception.id, first: exception.first_run_id, last: exception.last_run_id }).toEqual({ id: exception.id, first: run1.id, last: run2.id });
    }
    // Both runs wrote one line per compared transfer.
    const lines = (await r.env.db('reconciliation_lines').groupBy('run_id').select('run_id', r.env.db.raw('count(*)::int AS n'))) as {
      run_id: string;
      n: number;
    }[];
    expect(Object.fromEntries(lines.map((line) => [line.run_id, line.n]))).toEqual({ [run1.id]: 12, [run2.id]: 12 });
  });

  it('exports a run as CSV: one row per compared transfer with tx hash, token and HKD amounts, the peg and the block time', async () => {
    const response = await get(r.app, FINANCE_A, `/v1/reconciliations/${run1.id}/export?format=csv`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/csv/);
    expect(response.headers['content-disposition']).toContain(`reconciliation-${run1.id}.csv`);
    const { header, records } = csvRecords(response.text);
    expect(header).toEqual(RUN_CSV_HEADER);
    expect(records).toHaveLength(Number(run1.counts.transfers_on_chain));
    expect(new Set(records.map((row) => `${row.tx_hash}:${row.log_index}`)).size).toBe(records.length);

    const exact = records.filter((row) => row.tx_hash === payments.exact.txHash.toLowerCase());
    expect(exact).toEqual([
      expect.objectContaining({
        run_id: run1.id,
        result: 'matched',
        clinic_id: clinicA.id,
        invoice_id: invoices.exact.id,
        block_number: payments.exact.blockNumber.toString(),
        block_time: await blockTime(r, payments.exact.blockNumber),
        token_amount: '12340000',
        token_decimals: '6',
        hkd_amount: '12.34',
        exception_id: '',
      }),
    ]);
    expect(exact[0]!.rate).toMatch(/tHKD.*1 HKD.*peg/);
    const late = records.find((row) => row.tx_hash === payments.late.txHash.toLowerCase())!;
    const lateException = await exceptionOf(r.app, 'late_payment', invoices.late.id);
    expect(late).toMatchObject({ result: 'exception', exception_id: lateException.id, hkd_amount: '12.34' });
    const overpaid = records.find((row) => row.tx_hash === payments.overpaid.txHash.toLowerCase())!;
    expect(overpaid).toMatchObject({ token_amount: '15000000', hkd_amount: '15.00' });
    // No cell is a formula a spreadsheet would run.
    expect(records.flatMap((row) => Object.values(row)).filter((cell) => /^[=+@]/.test(cell))).toEqual([]);
  });

  it('every row of a run export has its block time, also for a transfer the ledger does not know', async () => {
    const { records } = csvRecords((await get(r.app, FINANCE_A, `/v1/reconciliations/${run1.id}/export?format=csv`)).text);
    const nowhere = records.find((row) => row.tx_hash === payments.nowhere.txHash.toLowerCase())!;
    expect(nowhere).toMatchObject({ result: 'exception', token_amount: '12340000', hkd_amount: '12.34' });
    expect(records.filter((row) => row.block_time === '').map((row) => row.tx_hash)).toEqual([]);
    expect(nowhere.block_time).toBe(await blockTime(r, payments.nowhere.blockNumber));
  });

  it('exports the exception queue as CSV, one row per exception', async () => {
    const response = await get(r.app, FINANCE_A, '/v1/exceptions/export?format=csv');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/csv/);
    const { header, records } = csvRecords(response.text);
    expect(header).toEqual(EXCEPTIONS_CSV_HEADER);
    const all = await listExceptions(r.app, FINANCE_A);
    expect(records.map((row) => row.exception_id).sort()).toEqual(all.map((exception) => exception.id).sort());
    const overpaid = await exceptionOf(r.app, 'overpayment', invoices.overpaid.id);
    expect(records.find((row) => row.exception_id === overpaid.id)).toMatchObject({
      type: 'overpayment',
      status: 'open',
      clinic_id: clinicA.id,
      invoice_id: invoices.overpaid.id,
      token_amount: '2660000',
      token_decimals: '6',
      hkd_amount: '2.66',
      expected: '12340000',
      observed: '15000000',
      resolved_at: '',
    });
    const late = await exceptionOf(r.app, 'late_payment', invoices.late.id);
    expect(records.find((row) => row.exception_id === late.id)).toMatchObject({
      tx_hash: payments.late.txHash.toLowerCase(),
      block_number: payments.late.blockNumber.toString(),
      block_time: late.block_time,
      hkd_amount: '12.34',
    });
    expect(records.every((row) => /peg/.test(row.rate!))).toBe(true);
    // Filters apply to the export too.
    const filtered = csvRecords((await get(r.app, FINANCE_A, '/v1/exceptions/export?format=csv&type=overpayment')).text).records;
    expect(filtered.map((row) => row.type)).toEqual(['overpayment', 'overpayment']);
  });

  it('filters and paginates the queue', async () => {
    const all = await listExceptions(r.app, FINANCE_A);
    expect((await listExceptions(r.app, FINANCE_A, { type: 'unknown_transfer' })).map((exception) => exception.invoice_id).sort()).toEqual(
      [invoices.nowhere.id, invoices.foreign.id].sort(),
    );
    expect(await listExceptions(r.app, FINANCE_A, { status: 'resolved' })).toEqual([]);
    expect((await listExceptions(r.app, FINANCE_A, { clinic_id: clinicB.id })).map((exception) => exception.invoice_id)).toEqual([invoices.overpaidB.id]);
    const first = await get(r.app, FINANCE_A, '/v1/exceptions?limit=3');
    expect(first.body).toMatchObject({ object: 'list', has_more: true });
    expect(first.body.data).toHaveLength(3);
    const rest = await get(r.app, FINANCE_A, `/v1/exceptions?limit=100&starting_after=${(first.body.data as ExceptionBody[])[2]!.id}`);
    expect([...first.body.data, ...rest.body.data].map((exception: ExceptionBody) => exception.id)).toEqual(all.map((exception) => exception.id));
  });

  it('clinic users may not read the queue or runs; auditors may; nobody may start a run without the finance or admin role', async () => {
    for (const role of ['clinic_admin', 'clinic_staff'] as const) {
      const token = tokenFor(role, clinicA.id);
      expect((await get(r.app, token, '/v1/exceptions')).status).toBe(403);
      expect((await get(r.app, token, '/v1/exceptions/export?format=csv')).status).toBe(403);
      expect((await get(r.app, token, `/v1/reconciliations/${run1.id}`)).status).toBe(403);
      expect((await get(r.app, token, `/v1/reconciliations/${run1.id}/export?format=csv`)).status).toBe(403);
      expect((await post(r.app, token, '/v1/reconciliations', {})).status).toBe(403);
    }
    expect((await post(r.app, tokenFor('auditor'), '/v1/reconciliations', {})).status).toBe(403);
    expect((await get(r.app, tokenFor('auditor'), '/v1/exceptions')).status).toBe(200);
    expect((await get(r.app, tokenFor('auditor'), `/v1/reconciliations/${run1.id}`)).status).toBe(200);
    expect((await get(r.app, 'not-a-token', '/v1/exceptions')).status).toBe(401);
  });

  it("a finance user confined to clinic A sees only clinic A's exceptions; clinic B's answer 404", async () => {
    const financeA = tokenFor('finance', clinicA.id, 'finance-clinic-a');
    const mine = await listExceptions(r.app, financeA);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((exception) => exception.clinic_id === clinicA.id)).toBe(true);
    expect(await listExceptions(r.app, financeA, { clinic_id: clinicB.id })).toEqual([]);

    const ofB = await exceptionOf(r.app, 'overpayment', invoices.overpaidB.id);
    const foreign = await get(r.app, financeA, `/v1/exceptions/${ofB.id}`);
    const unknown = await get(r.app, financeA, '/v1/exceptions/exc_000000000000000000000000');
    expect(foreign.status).toBe(404);
    expect(foreign.body.code).toBe('not_found');
    expect(foreign.body.detail).toBe(unknown.body.detail);
    expect(foreign.text).not.toContain(invoices.overpaidB.id);
    expect((await post(r.app, financeA, `/v1/exceptions/${ofB.id}/resolutions`, { action: 'write_off', reason: 'not ours' })).status).toBe(404);
  });

  it("a finance user confined to clinic A exports only clinic A's exceptions", async () => {
    const financeA = tokenFor('finance', clinicA.id, 'finance-clinic-a');
    const mine = await listExceptions(r.app, financeA);
    const exported = csvRecords((await get(r.app, financeA, '/v1/exceptions/export?format=csv')).text).records;
    expect(exported.length).toBe(mine.length);
    expect(exported.every((row) => row.clinic_id === clinicA.id)).toBe(true);
  });

  it("a finance user confined to clinic A does not get clinic B's transfers in a run export", async () => {
    const financeA = tokenFor('finance', clinicA.id, 'finance-clinic-a');
    const response = await get(r.app, financeA, `/v1/reconciliations/${run1.id}/export?format=csv`);
    expect(response.status).toBe(200);
    const { records } = csvRecords(response.text);
    expect(records.filter((row) => row.clinic_id !== clinicA.id).map((row) => [row.clinic_id, row.invoice_id])).toEqual([]);
    expect(response.text).not.toContain(payments.overpaidB.txHash.toLowerCase());
  });

  it("a run compares each clinic's settlement address too: tokens the ledger does not know of there are a balance_mismatch", async () => {
    // The issue: "per deposit address and per clinic settlement address … the on-chain balanceOf
    // at the run's block against the ledger balance of that address at the same block".
    const e = r.env;
    const ledgerSettlement = await balanceOf(e, clinicA.wallet);
    await pay(e, clinicA.wallet, 1_000_000n);
    await settle(e);
    const run = await reconcile(r.app);
    expect(run.status).toBe('completed');
    const mismatches = (await listExceptions(r.app, FINANCE_A, { type: 'balance_mismatch', clinic_id: clinicA.id })).filter(
      (exception) => exception.invoice_id === null,
    );
    expect(mismatches.map((exception) => [exception.expected, exception.observed])).toEqual([
      [ledgerSettlement.toString(), (ledgerSettlement + 1_000_000n).toString()],
    ]);
  });
});

describe('how a run reads balances, and which deposit addresses it compares', () => {
  let r: ReconEnv;
  /** Paid and forwarded: nothing sits at its address. */
  let forwarded: InvoiceRow;
  /** Paid and confirmed, not forwarded: the ledger says its address holds 10.00. */
  let held: InvoiceRow;
  /** Never billed for what reached it: 3.00 sent straight to its address, behind the watcher's back. */
  let planted: InvoiceRow;
  let range: { from_block: bigint; to_block: bigint };
  let viaMulticall: RunBody;

  /** A run straight through the functions, with deps of the test's choosing, logging into `log`. */
  async function runWith(overrides: Partial<ReconciliationDeps>, log = new CapturedLog()) {
    const deps = reconDeps(r.env, { logger: createLogger('info', log), ...overrides });
    const started = await startReconciliation(deps, { fromBlock: range.from_block, toBlock: range.to_block, requestedBy: 'test' });
    return { run: await executeReconciliation(deps, started.id), log };
  }

  beforeAll(async () => {
    r = await startReconEnv();
    const e = r.env;
    const clinic = await newClinic(e);
    forwarded = await newInvoice(e, clinic, { amount: '10.00' });
    held = await newInvoice(e, clinic, { amount: '10.00' });
    planted = await newInvoice(e, clinic, { amount: '10.00' });
    await pay(e, forwarded.deposit_address, 10_000_000n);
    await settleAll(e);
    await pay(e, held.deposit_address, 10_000_000n);
    await settle(e);
    await payBehindWatcher(e, planted.deposit_address, 3_000_000n);
    await settle(e);
    range = { from_block: r.startBlock + 1n, to_block: await confirmedHead(e) };
    viaMulticall = await reconcile(r.app, range);
  });
  afterAll(async () => r?.env.close());

  it("reads every balance through Multicall3 at the run's last block and finds tokens sent straight to a deposit address", async () => {
    expect(viaMulticall.status).toBe('completed');
    // Three deposit addresses and the clinic's wallet.
    expect(viaMulticall.counts).toMatchObject({ balances_checked: 4, balance_mismatches: 1, balance_reads: 'multicall3' });
    expect(viaMulticall.counts).not.toHaveProperty('balance_reads_note');
    const mismatches = await listExceptions(r.app, FINANCE_A, { type: 'balance_mismatch' });
    expect(mismatches.map((exception) => [exception.invoice_id, exception.expected, exception.observed, exception.block_number])).toEqual([
      [planted.id, '0', '3000000', Number(range.to_block)],
    ]);
    expect(r.log.text).not.toContain('one call each');
  });

  it('with no Multicall3 at the configured address, or none configured, reads one call each, finds the same, and says why', async () => {
    const empty = privateKeyToAccount(generatePrivateKey()).address;
    for (const [multicall, note] of [
      [empty, `no Multicall3 at ${empty} at block ${range.to_block}`],
      [undefined, 'MULTICALL3_ADDRESS not set'],
    ] as const) {
      const { run, log } = await runWith({ multicall });
      expect(run.status).toBe('completed');
      expect(run.counts).toEqual({ ...viaMulticall.counts, new_exceptions: 0, balance_reads: 'single_calls', balance_reads_note: note });
      // The same exceptions, found again: none new, none resolved.
      expect((await listExceptions(r.app, FINANCE_A, { type: 'balance_mismatch', status: 'open' })).map((exception) => exception.invoice_id)).toEqual([
        planted.id,
      ]);
      const warning = log.lines
        .map((line) => JSON.parse(line) as { level: string; msg: string; reason?: string })
        .find((line) => line.msg.includes('one call each'));
      expect(warning).toMatchObject({ level: 'warn', reason: note });
    }
  });

  it('compares a deposit address the range did not touch when the ledger says it holds tokens, and flags it when the chain differs', async () => {
    const e = r.env;
    // 1.00 more reaches the held deposit where the watcher does not look; the run covers only blocks after it.
    const behind = await payBehindWatcher(e, held.deposit_address, 1_000_000n);
    await settle(e);
    range = { from_block: behind.blockNumber + 1n, to_block: await confirmedHead(e) };
    const { run } = await runWith({});
    expect(run.status).toBe('completed');
    // Nothing moved in the range; the held deposit is compared all the same (the forwarded one, with nothing in the books, is not).
    expect(run.counts).toMatchObject({ transfers_on_chain: 0, balances_checked: 2, balance_mismatches: 1, balance_reads: 'multicall3' });
    const mismatch = await exceptionOf(r.app, 'balance_mismatch', held.id);
    expect(mismatch).toMatchObject({ status: 'open', expected: '10000000', observed: '11000000', amount: '1000000', block_number: Number(range.to_block) });
    expect(mismatch.details).toEqual({ address: getAddress(held.deposit_address) });
    // What the run did not compare it leaves as it was.
    expect((await exceptionOf(r.app, 'balance_mismatch', planted.id)).status).toBe('open');
  });
});

describe('a full sweep', () => {
  it('compares every deposit address: tokens sent to one the range did not touch and the ledger says is empty are found only by it', async () => {
    const r = await startReconEnv();
    try {
      const e = r.env;
      const clinic = await newClinic(e);
      const forwarded = await newInvoice(e, clinic, { amount: '10.00' });
      await pay(e, forwarded.deposit_address, 10_000_000n);
      await settleAll(e);
      // 2.00 more reaches the forwarded (now empty) deposit address where the watcher does not look.
      const behind = await payBehindWatcher(e, forwarded.deposit_address, 2_000_000n);
      await settle(e);
      const range = { fromBlock: behind.blockNumber + 1n, toBlock: await confirmedHead(e) };
      const deps = reconDeps(e);

      const ordinary = await executeReconciliation(deps, (await startReconciliation(deps, { ...range, requestedBy: 'test' })).id);
      expect(ordinary.status).toBe('completed');
      expect(ordinary.full_sweep).toBe(false);
      // The wallet only: the address is outside the range and empty in the books.
      expect(ordinary.counts).toMatchObject({ balances_checked: 1, balance_mismatches: 0, balance_scope: 'range' });

      // Asked for through the API, as finance would.
      const swept = await reconcile(r.app, { from_block: range.fromBlock, to_block: range.toBlock, full_sweep: true });
      expect(swept).toMatchObject({ status: 'completed', full_sweep: true });
      expect(swept.counts).toMatchObject({ balances_checked: 2, balance_mismatches: 1, balance_scope: 'full', balance_reads: 'multicall3' });
      expect(await exceptionOf(r.app, 'balance_mismatch', forwarded.id)).toMatchObject({ expected: '0', observed: '2000000', amount: '2000000' });

      // The scheduler makes one when the last is older than RECON_FULL_SWEEP_DAYS, never with 0.
      expect(await fullSweepIsDue(e.db, 31337, 7)).toBe(false);
      expect(await fullSweepIsDue(e.db, 31337, 0)).toBe(false);
      await e.db.raw(`UPDATE reconciliation_runs SET created_at = now() - interval '8 days' WHERE full_sweep`);
      expect(await fullSweepIsDue(e.db, 31337, 7)).toBe(true);
    } finally {
      await r.env.close();
    }
  });
});

describe('the range of a run', () => {
  // A chain whose first block is past the widest range a run may cover.
  const GENESIS = MAX_RECONCILIATION_RANGE + 40n;
  let anvil: Awaited<ReturnType<typeof startAnvilAt>>;
  let testDb: TestDatabase;
  let app: Awaited<ReturnType<typeof buildTestApp>>['app'];
  let cursor: bigint;
  let chainHead: bigint;

  beforeAll(async () => {
    anvil = await startAnvilAt(GENESIS);
    testDb = await createTestDatabase();
    ({ app } = await buildTestApp({ db: testDb.db, rpcUrl: anvil.rpcUrl }));
    const chain = testChain(anvil.rpcUrl);
    cursor = await chain.publicClient.getBlockNumber({ cacheTime: 0 });
    expect(cursor).toBe(GENESIS);
    await initCursor(testDb.db, 31337, cursor);
    // The watcher has read up to `cursor`; five more blocks exist that it has not.
    await chain.testClient.mine({ blocks: 5 });
    chainHead = cursor + 5n;
  });
  afterAll(async () => {
    await testDb?.close();
    await anvil?.stop();
  });

  async function refused(body: Record<string, unknown>) {
    const response = await post(app, FINANCE_A, '/v1/reconciliations', body);
    return {
      status: response.status,
      code: response.body.code as string,
      param: response.body.param as string | undefined,
      detail: response.body.detail as string,
    };
  }

  it('refuses a reversed range (400, param from_block)', async () => {
    expect(await refused({ from_block: Number(cursor), to_block: Number(cursor - 10n) })).toMatchObject({
      status: 400,
      code: 'invalid_request',
      param: 'from_block',
    });
  });

  it('refuses a range beyond the chain head (400 range_beyond_head)', async () => {
    expect(await refused({ from_block: Number(cursor), to_block: Number(chainHead + 1000n) })).toMatchObject({
      status: 400,
      code: 'range_beyond_head',
      param: 'to_block',
    });
  });

  it('refuses blocks the watcher has not confirmed yet (400 range_not_final)', async () => {
    expect(await refused({ from_block: Number(cursor), to_block: Number(chainHead) })).toMatchObject({
      status: 400,
      code: 'range_not_final',
      param: 'to_block',
    });
    expect(await refused({ from_block: Number(cursor), to_block: Number(cursor + 1n) })).toMatchObject({ status: 400, code: 'range_not_final' });
  });

  it('refuses a range over 1,000,000 blocks (400 range_too_large) and says how to proceed', async () => {
    const tooLarge = await refused({ from_block: Number(cursor - MAX_RECONCILIATION_RANGE), to_block: Number(cursor) });
    expect(tooLarge).toMatchObject({ status: 400, code: 'range_too_large' });
    expect(tooLarge.detail).toMatch(/1000000/);
    expect(await refused({ from_block: 0, to_block: Number(cursor) })).toMatchObject({ status: 400, code: 'range_too_large' });
  });

  it('refuses blocks that are not block numbers (400) and answers nothing without a token (401)', async () => {
    expect((await refused({ from_block: -1 })).status).toBe(400);
    expect((await refused({ from_block: 'ten' })).status).toBe(400);
    expect((await refused({ to_block: 1.5 })).status).toBe(400);
    expect((await refused({ from_block: 1, extra: true })).status).toBe(400);
    expect((await get(app, 'nope', '/v1/reconciliations/rec_000000000000000000000000')).status).toBe(401);
    expect((await get(app, FINANCE_A, '/v1/reconciliations/rec_000000000000000000000000')).status).toBe(404);
  });

  it('accepts a range of exactly the maximum and a range ending at the last confirmed block', async () => {
    // Run straight through the functions (the run itself reads blocks this chain does not have).
    const deps = {
      db: testDb.db,
      chain: createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 }),
      logger,
      chainId: 31337,
      token: getAddress(`0x${'11'.repeat(20)}`),
      finality: { confirmations: 3, useFinalizedTag: false, maxBlockRange: 2000n },
    };
    const widest = await startReconciliation(deps, { fromBlock: cursor - MAX_RECONCILIATION_RANGE + 1n, toBlock: cursor, requestedBy: 'test' });
    expect(widest).toMatchObject({ status: 'running', from_block: (cursor - MAX_RECONCILIATION_RANGE + 1n).toString(), to_block: cursor.toString() });
    await testDb
      .db('reconciliation_runs')
      .where({ id: widest.id })
      .update({ status: 'failed', error: 'not run by this test', finished_at: testDb.db.fn.now() });
    const run = await reconcile(app, { from_block: cursor, to_block: cursor });
    expect(run).toMatchObject({ status: 'completed', progress_percent: 100 });
    expect(run.counts).toMatchObject({ transfers_on_chain: 0, matched: 0, exceptions: 0 });
  });
});

describe('faults during a run', () => {
  let proxy: RpcProxy;
  let r: ReconEnv;

  beforeAll(async () => {
    proxy = await startRpcProxy();
    r = await startReconEnv({ proxy });
  });
  afterAll(async () => {
    await r?.env.close();
    await proxy?.close();
  });

  async function overpaidInvoice() {
    const clinic = await newClinic(r.env);
    const invoice = await newInvoice(r.env, clinic, { amount: '10.00' });
    const payment = await pay(r.env, invoice.deposit_address, 11_000_000n);
    return { clinic, invoice, payment };
  }

  it('a node that fails mid-run (balanceOf after the logs were read) marks the run failed, writes nothing, and a retry completes', async () => {
    const { invoice } = await overpaidInvoice();
    await settleAll(r.env);
    const range = { from_block: r.startBlock + 1n, to_block: await confirmedHead(r.env) };
    const exceptionsBefore = await exceptionCountsByType(r.env.db);

    proxy.failing.add('eth_call');
    let failed: RunBody;
    try {
      const started = await post(r.app, FINANCE_A, '/v1/reconciliations', { from_block: Number(range.from_block), to_block: Number(range.to_block) });
      expect(started.status).toBe(202);
      failed = await waitForRun(r.app, started.body.id as string);
    } finally {
      proxy.failing.delete('eth_call');
    }
    expect(failed).toMatchObject({ status: 'failed', counts: {} });
    expect(failed.error).toBeTruthy();
    expect(failed.progress_percent).toBeLessThan(100);
    // It failed after reading the logs (80% of the work), at the balances.
    expect(failed.progress_percent).toBeGreaterThanOrEqual(80);
    expect(failed.finished_at).not.toBeNull();
    expect(await exceptionCountsByType(r.env.db)).toEqual(exceptionsBefore);
    expect(await r.env.db('exceptions').where({ first_run_id: failed.id }).orWhere({ last_run_id: failed.id })).toEqual([]);
    expect(await r.env.db('reconciliation_lines').where({ run_id: failed.id })).toEqual([]);

    // The same range again, once the node answers: completes, and finds the overpayment once.
    const retry = await reconcile(r.app, range);
    expect(retry).toMatchObject({ status: 'completed', progress_percent: 100, error: null });
    expect((await listExceptions(r.app, FINANCE_A, { invoice_id: invoice.id })).map((exception) => exception.type)).toEqual(['overpayment']);
    // The failed run did not count as "completed" for the default range of the next one.
    const next = await post(r.app, FINANCE_A, '/v1/reconciliations', {});
    if (next.status === 202) {
      expect(next.body.from_block).toBe(retry.to_block + 1);
      await waitForRun(r.app, next.body.id as string);
    } else {
      // Nothing new to reconcile since the retry.
      expect(next.body).toMatchObject({ status: 409, code: 'nothing_to_reconcile' });
    }
  });

  it('a node that cannot be reached at all fails the run with its error; the run can be run again and completes', async () => {
    const { invoice } = await overpaidInvoice();
    await settleAll(r.env);
    const deps = reconDeps(r.env);
    const started = await startReconciliation(deps, { fromBlock: r.startBlock + 1n, toBlock: await confirmedHead(r.env), requestedBy: 'test' });
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const failed = await executeReconciliation({ ...deps, chain: createChainClient({ rpcUrl: deadUrl, timeoutMs: 2000 }) }, started.id);
    expect(failed).toMatchObject({ id: started.id, status: 'failed' });
    expect(failed.error).toBeTruthy();
    expect(await r.env.db('exceptions').where({ invoice_id: invoice.id })).toEqual([]);
    expect(await r.env.db('reconciliation_lines').where({ run_id: started.id })).toEqual([]);

    // Retried later, through the API: completes.
    const retry = await reconcile(r.app, { from_block: r.startBlock + 1n, to_block: BigInt(failed.to_block) });
    expect(retry.status).toBe('completed');
    expect((await listExceptions(r.app, FINANCE_A, { invoice_id: invoice.id })).map((exception) => exception.type)).toEqual(['overpayment']);
  });

  it('a second run while one is running is refused with 409 reconciliation_running', async () => {
    await settleAll(r.env);
    const deps = reconDeps(r.env);
    const range = { fromBlock: r.startBlock + 1n, toBlock: await confirmedHead(r.env), requestedBy: 'finance-alice' };
    const first = await startReconciliation(deps, range);
    const second = await startReconciliation(deps, range).catch((error: unknown) => error);
    expect(second).toBeInstanceOf(ClinicPayError);
    expect(second).toMatchObject({ code: 'reconciliation_running', status: 409 });

    const viaApi = await post(r.app, FINANCE_A, '/v1/reconciliations', {});
    expect(viaApi.status).toBe(409);
    expect(viaApi.body).toMatchObject({ code: 'reconciliation_running' });
    expect(await r.env.db('reconciliation_runs').where({ status: 'running' }).pluck('id')).toEqual([first.id]);

    expect((await executeReconciliation(deps, first.id)).status).toBe('completed');
    const after = await reconcile(r.app, { from_block: range.fromBlock, to_block: range.toBlock });
    expect(after.status).toBe('completed');
  });

  it('a run over blocks the watcher has read but not yet posted is refused, or counts their transfers as matched once posted (never as unknown)', async () => {
    await settleAll(r.env);
    const { invoice, payment } = await overpaidInvoice();
    const deps = watcher(r.env);
    // The watcher reads the payment's block (pending), then more blocks arrive before its next pass.
    const pass = await syncOnce(deps);
    expect(pass.cursor).toBe(payment.blockNumber);
    await mine(r.env, 3);
    expect(await r.env.db('transfers').where({ tx_hash: payment.txHash.toLowerCase() }).first('status')).toEqual({ status: 'pending' });

    const response = await post(r.app, FINANCE_A, '/v1/reconciliations', { from_block: Number(payment.blockNumber), to_block: Number(payment.blockNumber) });
    if (response.status === 400) {
      expect(response.body.code).toBe('range_not_final');
    } else {
      expect(response.status).toBe(202);
      const run = await waitForRun(r.app, response.body.id as string);
      expect(run.status).toBe('completed');
      const unknown = await listExceptions(r.app, FINANCE_A, { invoice_id: invoice.id, type: 'unknown_transfer' });
      expect(unknown.map((exception) => [exception.tx_hash, exception.details])).toEqual([]);
    }
    // Once the watcher has posted it, the same range reconciles cleanly (the overpayment aside).
    await settle(r.env);
    const run = await reconcile(r.app, { from_block: payment.blockNumber, to_block: payment.blockNumber });
    expect(run.counts).toMatchObject({ transfers_on_chain: 1, matched: 1 });
    expect((await listExceptions(r.app, FINANCE_A, { invoice_id: invoice.id, status: 'open' })).map((exception) => exception.type)).toEqual(['overpayment']);
    await settleAll(r.env);
    await expectLedgerInvariants(r.env);
  });

  it('starting a run while the watcher has not yet read the head refuses the unread blocks', async () => {
    await settleAll(r.env);
    const { payment } = await overpaidInvoice();
    await mine(r.env, 5);
    // The watcher has not read the payment's block at all.
    const response = await post(r.app, FINANCE_A, '/v1/reconciliations', { from_block: Number(payment.blockNumber), to_block: Number(payment.blockNumber) });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ code: 'range_not_final', param: 'to_block' });
    expect(await head(r.env)).toBeGreaterThan(payment.blockNumber);
    await settleAll(r.env);
  });
});
