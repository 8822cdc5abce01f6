/**
 * Payments from a listed payer, end to end on anvil and Postgres: the watcher credits the
 * payment but holds it, the flusher leaves its deposit alone, the clinic is told
 * (`payment.held`), reconciliation puts it in finance's queue as `screening_hit`, and two finance
 * people decide: released, the deposit is forwarded; kept held, it stays. A payment made before
 * the list named the payer goes through as always. Every payment's evidence tells the story:
 * the screening (list versions, clear or hit), the hold and its two-person decision, the posting
 * and the audit rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../src/audit/auditLog.js';
import { loadScreeningList } from '../src/compliance/screening.js';
import { tokenFor } from './support/app.js';
import { audited } from './support/database.js';
import { clinicWithWallet, exceptionOf, FINANCE_A, FINANCE_B, get, post, type ReconEnv, reconcile, settleAll, startReconEnv } from './support/recon.js';
import { balanceOf, newInvoice, pay, readInvoice, type TestClinic, transfersOf, webhookTypes } from './support/settlement.js';

describe('a payment from a listed payer', () => {
  let r: ReconEnv;
  let clinic: TestClinic;

  beforeAll(async () => {
    r = await startReconEnv();
    clinic = await clinicWithWallet(r.env);
  }, 120_000);
  afterAll(async () => {
    await r?.env.close();
  });

  const paymentOf = async (invoiceId: string) => (await transfersOf(r.env.db, invoiceId)).find((transfer) => transfer.kind === 'payment')!;
  const evidenceOf = async (invoiceId: string, token = FINANCE_A) => get(r.app, token, `/v1/payments/${(await paymentOf(invoiceId)).id}/evidence`);

  const forwarded = async (invoiceId: string) => (await transfersOf(r.env.db, invoiceId)).filter((transfer) => transfer.kind === 'forward');

  it('goes through as always while no list names the payer', async () => {
    const invoice = await newInvoice(r.env, clinic, { amount: '20.00' });
    await pay(r.env, invoice.deposit_address, 20_000_000n);
    await settleAll(r.env);
    expect((await readInvoice(r.env, invoice.id)).status).toBe('paid');
    expect(await forwarded(invoice.id)).toHaveLength(1);
    expect(await r.env.db('payment_holds').count('* as n').first()).toEqual({ n: '0' });

    // Its evidence: screened clear against no list at all (none was loaded), posted final, audited.
    const evidence = await evidenceOf(invoice.id);
    expect(evidence.status, evidence.text).toBe(200);
    const payment = await paymentOf(invoice.id);
    expect(evidence.body).toMatchObject({
      object: 'payment_evidence',
      payment: { id: payment.id, invoice_id: invoice.id, tx_hash: payment.tx_hash, amount: '20000000', status: 'confirmed' },
      posting: { block_hash: payment.block_hash, confirmations: expect.any(Number) },
      token: { symbol: 'tHKD', decimals: 6, on_allow_list: true, offered_by_invoice: true },
      screening: [{ generation: 0, result: 'clear', lists: [], hits: [] }],
      hold: null,
      oracle: null,
      travel_rule: null,
    });
    expect(evidence.body.posting.confirmations).toBeGreaterThanOrEqual(3);
    expect(evidence.body.posting.entries).toEqual([expect.objectContaining({ kind: 'payment', reverses_entry_id: null })]);
    expect(evidence.body.audit.map((row: { action: string }) => row.action)).toEqual(['payment.posted']);
    const chained = await (await audited(r.env.db))('audit_log').where({ target_id: payment.id }).first('seq', 'row_hash');
    expect(evidence.body.audit[0]).toMatchObject({ seq: String(chained.seq), row_hash: chained.row_hash });
  });

  it('is credited but held: not forwarded, the clinic told, and in the queue; released by two finance people, it is forwarded', async () => {
    await loadScreeningList(r.env.db, SYSTEM.operator, {
      name: 'hk-designations',
      bytes: Buffer.from(`address,name,reference\n${r.env.payer.address},Example Payer,HK-2026-001\n`),
    });
    const walletBefore = await balanceOf(r.env, clinic.wallet);
    const invoice = await newInvoice(r.env, clinic, { amount: '30.00' });
    await pay(r.env, invoice.deposit_address, 30_000_000n);
    await settleAll(r.env);

    // Credited as any payment: the invoice is paid and the ledger has it.
    expect((await readInvoice(r.env, invoice.id)).status).toBe('paid');
    const hold = await r.env.db('payment_holds').where({ invoice_id: invoice.id }).first();
    expect(hold).toMatchObject({ status: 'held', reason: 'screening_hit', amount: '30000000', from_address: r.env.payer.address.toLowerCase() });
    expect(hold.hits).toEqual([expect.objectContaining({ list: 'hk-designations', name: 'Example Payer', reference: 'HK-2026-001' })]);
    // Held: the deposit is still at its address, nothing went to the clinic.
    expect(await forwarded(invoice.id)).toEqual([]);
    expect(await balanceOf(r.env, invoice.deposit_address)).toBe(30_000_000n);
    expect(await balanceOf(r.env, clinic.wallet)).toBe(walletBefore);
    expect(await webhookTypes(r.env.db, clinic.id)).toContain('payment.held');
    expect(await (await audited(r.env.db))('audit_log').where({ action: 'payment.held', target_id: hold.id }).count('* as n').first()).toEqual({ n: '1' });

    // Reconciliation puts it in finance's queue, naming the list.
    expect((await reconcile(r.app)).status).toBe('completed');
    const exception = await exceptionOf(r.app, 'screening_hit', invoice.id);
    expect(exception.details).toMatchObject({ hold_id: hold.id, hits: [expect.objectContaining({ list: 'hk-designations' })] });

    // Only a decision on the hold fits it, with a reason; nothing is proposed otherwise.
    const refund = await post(r.app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, { action: 'refund' });
    expect(refund.status).toBe(400);
    expect(refund.body.param).toBe('action');
    const noReason = await post(r.app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, { action: 'release' });
    expect(noReason.status).toBe(400);
    expect(noReason.body.param).toBe('reason');
    expect(await r.env.db('resolutions').where({ exception_id: exception.id }).count('* as n').first()).toEqual({ n: '0' });

    const proposed = await post(r.app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, {
      action: 'release',
      reason: 'Name match only; the payer is the patient, checked against ID.',
    });
    expect(proposed.status, proposed.text).toBe(201);
    expect((await post(r.app, FINANCE_A, `/v1/resolutions/${proposed.body.id}/approve`)).status).toBe(403);
    await settleAll(r.env);
    expect(await forwarded(invoice.id)).toEqual([]);

    const approved = await post(r.app, FINANCE_B, `/v1/resolutions/${proposed.body.id}/approve`);
    expect(approved.status, approved.text).toBe(200);
    expect(approved.body).toMatchObject({ action: 'release', status: 'completed' });
    expect(await r.env.db('payment_holds').where({ id: hold.id }).first()).toMatchObject({ status: 'released' });
    expect(await r.env.db('exceptions').where({ id: exception.id }).first()).toMatchObject({ status: 'resolved' });

    // Released: the deposit goes to the clinic.
    await settleAll(r.env);
    expect(await forwarded(invoice.id)).toHaveLength(1);
    expect(await balanceOf(r.env, invoice.deposit_address)).toBe(0n);
    expect(await balanceOf(r.env, clinic.wallet)).toBe(walletBefore + 30_000_000n);

    // The evidence: screened against the list version in force, a hit; held, then released by two people.
    const list = await r.env.db('screening_lists').where({ name: 'hk-designations', active: true }).first('id', 'sha256');
    const evidence = await evidenceOf(invoice.id);
    expect(evidence.status, evidence.text).toBe(200);
    expect(evidence.body.screening).toEqual([
      expect.objectContaining({
        result: 'hit',
        lists: [{ name: 'hk-designations', version: list.id, sha256: list.sha256, entries: 1 }],
        hits: [{ list: 'hk-designations', version: list.id, sha256: list.sha256, name: 'Example Payer', reference: 'HK-2026-001' }],
      }),
    ]);
    expect(evidence.body.hold).toMatchObject({
      id: hold.id,
      status: 'released',
      exception_id: exception.id,
      resolutions: [{ action: 'release', status: 'completed', proposed_by: 'finance-alice', approved_by: 'finance-bob' }],
    });
    // The proposer's reason (free text that may describe a patient) is not in the evidence.
    expect(evidence.text).not.toContain('checked against ID');
    // In the chain's order: the watcher records the hold in the same transaction that posts the payment.
    expect(evidence.body.audit.map((row: { action: string }) => row.action).sort()).toEqual(['payment.held', 'payment.posted', 'payment.released']);
    expect(evidence.body.audit.at(-1).action).toBe('payment.released');
  });

  it('stays where it is when two finance people keep it held', async () => {
    const invoice = await newInvoice(r.env, clinic, { amount: '40.00' });
    await pay(r.env, invoice.deposit_address, 40_000_000n);
    await settleAll(r.env);
    expect((await reconcile(r.app)).status).toBe('completed');
    const exception = await exceptionOf(r.app, 'screening_hit', invoice.id);
    const proposed = await post(r.app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, {
      action: 'keep_held',
      reason: 'Reported; awaiting guidance.',
    });
    expect(proposed.status, proposed.text).toBe(201);
    expect((await post(r.app, FINANCE_B, `/v1/resolutions/${proposed.body.id}/approve`)).status).toBe(200);
    expect(await r.env.db('payment_holds').where({ invoice_id: invoice.id }).first()).toMatchObject({ status: 'kept', decided_by: 'finance-bob' });
    await settleAll(r.env);
    expect(await forwarded(invoice.id)).toEqual([]);
    expect(await balanceOf(r.env, invoice.deposit_address)).toBe(40_000_000n);
    expect((await evidenceOf(invoice.id)).body.hold).toMatchObject({ status: 'kept', decided_by: 'finance-bob' });
  });
});

describe("a payment's evidence from outside", () => {
  let r: ReconEnv;
  let clinic: TestClinic;
  let paymentId: string;

  beforeAll(async () => {
    r = await startReconEnv();
    clinic = await clinicWithWallet(r.env);
    const invoice = await newInvoice(r.env, clinic, { amount: '12.00' });
    await pay(r.env, invoice.deposit_address, 12_000_000n);
    await settleAll(r.env);
    paymentId = (await transfersOf(r.env.db, invoice.id)).find((transfer) => transfer.kind === 'payment')!.id;
  }, 120_000);
  afterAll(async () => {
    await r?.env.close();
  });

  it("is the clinic's own: another clinic's people get 404, the front desk 403, a malformed id 400, all as problems", async () => {
    const own = await get(r.app, tokenFor('clinic_admin', clinic.id), `/v1/payments/${paymentId}/evidence`);
    expect(own.status, own.text).toBe(200);
    const auditor = await get(r.app, tokenFor('auditor'), `/v1/payments/${paymentId}/evidence`);
    expect(auditor.status).toBe(200);
    const otherClinic = await clinicWithWallet(r.env);
    const other = await get(r.app, tokenFor('clinic_admin', otherClinic.id), `/v1/payments/${paymentId}/evidence`);
    expect(other.status).toBe(404);
    expect(other.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(other.text).not.toContain(paymentId.slice(4));
    const staff = await get(r.app, tokenFor('clinic_staff', clinic.id), `/v1/payments/${paymentId}/evidence`);
    expect(staff.status).toBe(403);
    const malformed = await get(r.app, FINANCE_A, '/v1/payments/not-a-payment/evidence');
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ code: 'invalid_request', param: 'id' });
    const unknown = await get(r.app, FINANCE_A, `/v1/payments/pay_${'0'.repeat(24)}/evidence`);
    expect(unknown.status).toBe(404);
  });
});
