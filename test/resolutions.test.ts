/**
 * Resolving exceptions on a real anvil and Postgres, through the API, with a second pair of eyes:
 * a refund proposed by one finance user, approved by another, sent by the clinic's own wallet
 * exactly as the gateway prepared it, detected on the chain and matched (the "Done
 * when"); refunds to an address the payer authorised by signature; applying an excess to another
 * invoice; writing off; and the bad input of the issue (a resolution on a resolved or pending
 * exception, a refund larger than received, a wrong signature, approval by the proposer).
 *
 * One anvil and one database for the file; each test has clinics and invoices of its own and
 * reconciles the blocks it added.
 */
import { parse as parseEthereumUri } from 'eth-url-parser';
import request from 'supertest';
import { decodeFunctionData, encodeFunctionData, erc20Abi, getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InvoiceRow, voidInvoice } from '../src/billing/invoices.js';
import { accountBalances } from '../src/ledger/ledger.js';
import { withTransaction } from '../src/platform/transaction.js';
import { matchRefunds, refundAuthorizationMessage } from '../src/recon/resolutions.js';
import { bearer, TEST_ACTOR, tokenFor } from './support/app.js';
import { deployTestToken, mint } from './support/chain.js';
import {
  clinicWithWallet,
  confirmedHead,
  type ExceptionBody,
  entriesOfKind,
  exceptionOf,
  FINANCE_A,
  FINANCE_B,
  get,
  listExceptions,
  payBehindWatcher,
  post,
  type ReconEnv,
  type ResolutionBody,
  reconcile,
  refundMatcher,
  sendRefund,
  settleAll,
  startReconEnv,
} from './support/recon.js';
import {
  anvilRpc,
  balanceOf,
  CONFIRMATIONS,
  expectLedgerInvariants,
  mine,
  newClinic,
  newInvoice,
  pay,
  readInvoice,
  settle,
  type TestClinic,
} from './support/settlement.js';

const admin = { sub: 'test-admin', role: 'platform_admin', clinicId: undefined } as const;

let r: ReconEnv;
beforeAll(async () => {
  r = await startReconEnv();
});
afterAll(async () => r?.env.close());

function propose(exceptionId: string, body: Record<string, unknown>, token = FINANCE_A) {
  return post(r.app, token, `/v1/exceptions/${exceptionId}/resolutions`, body);
}

function approve(resolutionId: string, token = FINANCE_B) {
  return post(r.app, token, `/v1/resolutions/${resolutionId}/approve`);
}

async function exceptionNow(id: string): Promise<ExceptionBody> {
  const response = await get(r.app, FINANCE_A, `/v1/exceptions/${id}`);
  expect(response.status).toBe(200);
  return response.body as ExceptionBody;
}

/** An invoice of `amount` HKD paid `paid` base units, settled and forwarded, and its overpayment exception. */
async function overpayment(clinic: TestClinic, amount: string, paid: bigint): Promise<{ invoice: InvoiceRow; exception: ExceptionBody }> {
  const invoice = await newInvoice(r.env, clinic, { amount });
  await pay(r.env, invoice.deposit_address, paid);
  await settleAll(r.env);
  const run = await reconcile(r.app);
  expect(run.status).toBe('completed');
  return { invoice, exception: await exceptionOf(r.app, 'overpayment', invoice.id) };
}

describe('a refund, end to end', () => {
  it('is proposed by one finance user, approved by another, sent by the clinic wallet, matched on the chain, and closes the exception; the books agree with the chain afterwards', async () => {
    const e = r.env;
    const payer = getAddress(e.payer.address);
    const clinic = await clinicWithWallet(e);
    const { invoice, exception } = await overpayment(clinic, '12.34', 15_000_000n);
    expect(await balanceOf(e, clinic.wallet)).toBe(15_000_000n);
    expect(exception).toMatchObject({ status: 'open', amount: '2660000', from_address: payer, clinic_id: clinic.id });

    // Finance user A proposes a refund with no address and no amount: the excess, back to the payer.
    const proposed = await propose(exception.id, { action: 'refund' });
    expect(proposed.status).toBe(201);
    const resolution = proposed.body as ResolutionBody;
    expect(resolution).toMatchObject({
      object: 'resolution',
      exception_id: exception.id,
      action: 'refund',
      status: 'pending_approval',
      amount: '2660000',
      to_address: payer,
      created_by: 'finance-alice',
      approved_by: null,
      payment_uri: null,
      calldata: null,
    });
    expect(await exceptionNow(exception.id)).toMatchObject({ status: 'pending_approval', resolutions: [{ id: resolution.id, status: 'pending_approval' }] });

    // A may not approve their own proposal.
    const self = await approve(resolution.id, FINANCE_A);
    expect(self.status).toBe(403);
    expect((await get(r.app, FINANCE_A, `/v1/resolutions/${resolution.id}`)).body).toMatchObject({ status: 'pending_approval', approved_by: null });

    // B approves: the exact transfer for the clinic's wallet.
    const approved = await approve(resolution.id);
    expect(approved.status).toBe(200);
    const token = getAddress(e.token);
    const calldata = encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [payer, 2_660_000n] });
    expect(approved.body).toMatchObject({
      id: resolution.id,
      status: 'awaiting_transfer',
      approved_by: 'finance-bob',
      payment_uri: `ethereum:${token}@${e.network.chainId}/transfer?address=${payer}&uint256=2660000`,
      calldata,
      refund_tx_hash: null,
    });
    const uri = parseEthereumUri((approved.body as ResolutionBody).payment_uri!);
    expect(uri).toMatchObject({
      target_address: token,
      chain_id: String(e.network.chainId),
      function_name: 'transfer',
      parameters: { address: payer, uint256: '2660000' },
    });
    expect(decodeFunctionData({ abi: erc20Abi, data: (approved.body as ResolutionBody).calldata! })).toEqual({
      functionName: 'transfer',
      args: [payer, 2_660_000n],
    });
    // Approved is not done: the exception waits for the transfer.
    expect((await exceptionNow(exception.id)).status).toBe('pending_approval');

    // The clinic's wallet sends exactly that; once final it is matched, once.
    const payerBefore = await balanceOf(e, payer);
    const refund = await sendRefund(e, clinic.owner, calldata);
    expect(await matchRefunds(refundMatcher(e))).toBe(0);
    await mine(e, CONFIRMATIONS);
    expect(await matchRefunds(refundMatcher(e))).toBe(1);
    expect(await matchRefunds(refundMatcher(e))).toBe(0);
    expect(await balanceOf(e, payer)).toBe(payerBefore + 2_660_000n);
    expect(await balanceOf(e, clinic.wallet)).toBe(12_340_000n);

    const done = (await get(r.app, FINANCE_A, `/v1/resolutions/${resolution.id}`)).body as ResolutionBody;
    expect(done).toMatchObject({ status: 'completed', refund_tx_hash: refund.txHash.toLowerCase() });
    expect(done.completed_at).not.toBeNull();
    const closed = await exceptionNow(exception.id);
    expect(closed).toMatchObject({ status: 'resolved', resolutions: [{ id: resolution.id, status: 'completed' }] });
    expect(closed.resolved_at).not.toBeNull();

    // Its own journal entry: the clinic's settlement wallet paid the patient back.
    expect(await entriesOfKind(e.db, 'refund', { resolution_id: resolution.id })).toEqual([
      expect.objectContaining({ invoice_id: invoice.id, postings: { 'patient_payments+': 2_660_000n, 'settlement-': -2_660_000n } }),
    ]);
    const balances = Object.fromEntries((await accountBalances(e.db, clinic.id)).map((account) => [account.kind, account.balance]));
    expect(balances).toEqual({ deposits: 0n, settlement: 12_340_000n, patient_payments: -12_340_000n });

    // A new run over everything finds the chain and the ledger in agreement, and nothing left open here.
    await settle(e);
    const after = await reconcile(r.app, { from_block: r.startBlock + 1n, to_block: await confirmedHead(e) });
    expect(after.status).toBe('completed');
    expect(after.counts.balance_mismatches).toBe(0);
    expect(await listExceptions(r.app, FINANCE_A, { invoice_id: invoice.id, status: 'open' })).toEqual([]);
    expect((await exceptionNow(exception.id)).status).toBe('resolved');
    // Every entry balances, every deposit address holds what the ledger says, every settlement wallet too.
    await expectLedgerInvariants(e);
  });

  it('simulator seed 2: matched, then taken off the chain by a reorg deeper than finality, is reversed and awaits its transfer again; mined again, it is matched once more', async () => {
    // Found by `npm run simulate -- --seeds 1,2 --steps 700` once the simulator resolved exceptions and
    // sent refunds: a refund matched when final stayed on the books after a deeper reorg dropped its
    // transfer, and the clinic's wallet held 2,972,810,000 more than the books said.
    const e = r.env;
    const clinic = await clinicWithWallet(e);
    const { exception } = await overpayment(clinic, '12.34', 15_000_000n);
    const resolution = (await propose(exception.id, { action: 'refund' })).body as ResolutionBody;
    const approved = (await approve(resolution.id)).body as ResolutionBody;
    await sendRefund(e, clinic.owner, approved.calldata as `0x${string}`);
    await mine(e, CONFIRMATIONS);
    expect(await matchRefunds(refundMatcher(e))).toBe(1);
    expect(await balanceOf(e, clinic.wallet)).toBe(12_340_000n);

    // The refund's block and those on top of it are replaced, its transaction dropped.
    await anvilRpc(e, 'anvil_reorg', [CONFIRMATIONS + 1, []]);
    await anvilRpc(e, 'anvil_dropAllTransactions', []);
    expect(await balanceOf(e, clinic.wallet)).toBe(15_000_000n);
    expect(await matchRefunds(refundMatcher(e))).toBe(0);
    expect((await get(r.app, FINANCE_A, `/v1/resolutions/${resolution.id}`)).body).toMatchObject({ status: 'awaiting_transfer', refund_tx_hash: null });
    expect((await exceptionNow(exception.id)).status).toBe('pending_approval');
    const kinds = async () =>
      (await e
        .db('journal_entries')
        .where({ resolution_id: resolution.id })
        .orWhereIn('reverses_entry_id', e.db('journal_entries').where({ resolution_id: resolution.id }).select('id'))
        .orderBy('created_at')
        .pluck('kind')) as string[];
    expect(await kinds()).toEqual(['refund', 'reversal']);
    await settle(e);
    await expectLedgerInvariants(e);

    // The clinic sends it again: matched once more, posted once more.
    await sendRefund(e, clinic.owner, approved.calldata as `0x${string}`);
    await mine(e, CONFIRMATIONS);
    expect(await matchRefunds(refundMatcher(e))).toBe(1);
    expect(await matchRefunds(refundMatcher(e))).toBe(0);
    expect((await get(r.app, FINANCE_A, `/v1/resolutions/${resolution.id}`)).body).toMatchObject({ status: 'completed' });
    expect((await exceptionNow(exception.id)).status).toBe('resolved');
    expect(await kinds()).toEqual(['refund', 'reversal', 'refund']);
    expect(await balanceOf(e, clinic.wallet)).toBe(12_340_000n);
    await settle(e);
    await expectLedgerInvariants(e);
  });

  it("to another address needs the payer's EIP-191 signature naming this invoice and that address", async () => {
    const e = r.env;
    const clinic = await clinicWithWallet(e);
    const { invoice, exception } = await overpayment(clinic, '10.00', 11_000_000n);
    const exchange = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    const message = refundAuthorizationMessage(invoice.id, exchange.address);
    expect(message).toBe(`ClinicPay refund authorization\nInvoice: ${invoice.id}\nRefund address: ${getAddress(exchange.address)}`);

    const unsigned = await propose(exception.id, { action: 'refund', to_address: exchange.address });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body).toMatchObject({ code: 'invalid_request', param: 'signature' });

    const wrongKey = await propose(exception.id, { action: 'refund', to_address: exchange.address, signature: await stranger.signMessage({ message }) });
    expect(wrongKey.status).toBe(422);
    expect(wrongKey.body).toMatchObject({ code: 'invalid_signature', param: 'signature' });

    const otherInvoice = await newInvoice(e, clinic);
    const namesOtherInvoice = await propose(exception.id, {
      action: 'refund',
      to_address: exchange.address,
      signature: await e.payer.wallet.signMessage({ message: refundAuthorizationMessage(otherInvoice.id, exchange.address) }),
    });
    expect(namesOtherInvoice.status).toBe(422);
    expect(namesOtherInvoice.body).toMatchObject({ code: 'invalid_signature' });

    const namesOtherAddress = await propose(exception.id, {
      action: 'refund',
      to_address: exchange.address,
      signature: await e.payer.wallet.signMessage({ message: refundAuthorizationMessage(invoice.id, stranger.address) }),
    });
    expect(namesOtherAddress.status).toBe(422);
    expect(namesOtherAddress.body).toMatchObject({ code: 'invalid_signature' });

    const malformed = await propose(exception.id, { action: 'refund', to_address: exchange.address, signature: '0x1234' });
    expect(malformed.status).toBe(400);
    // None of these left anything behind.
    expect(await exceptionNow(exception.id)).toMatchObject({ status: 'open', resolutions: [] });

    const signed = await propose(exception.id, {
      action: 'refund',
      to_address: exchange.address.toLowerCase(),
      signature: await e.payer.wallet.signMessage({ message }),
    });
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({ status: 'pending_approval', to_address: getAddress(exchange.address), amount: '1000000' });

    const approved = await approve((signed.body as ResolutionBody).id);
    expect(approved.status).toBe(200);
    expect((approved.body as ResolutionBody).payment_uri).toContain(`address=${getAddress(exchange.address)}&uint256=1000000`);
    await sendRefund(e, clinic.owner, (approved.body as ResolutionBody).calldata!);
    await mine(e, CONFIRMATIONS);
    expect(await matchRefunds(refundMatcher(e))).toBe(1);
    expect(await balanceOf(e, exchange.address)).toBe(1_000_000n);
    expect((await exceptionNow(exception.id)).status).toBe('resolved');
  });

  it("is not matched by a transfer of another amount, or from another wallet than the clinic's", async () => {
    const e = r.env;
    const payer = getAddress(e.payer.address);
    const clinic = await clinicWithWallet(e);
    const { exception } = await overpayment(clinic, '10.00', 10_500_000n);
    const proposed = await propose(exception.id, { action: 'refund' });
    const approved = await approve((proposed.body as ResolutionBody).id);
    expect(approved.status).toBe(200);
    // The payer's own wallet sends the amount to itself; the clinic sends one unit short.
    await pay(e, payer, 500_000n);
    await sendRefund(e, clinic.owner, encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [payer, 499_999n] }));
    await mine(e, CONFIRMATIONS);
    expect(await matchRefunds(refundMatcher(e))).toBe(0);
    expect((await exceptionNow(exception.id)).status).toBe('pending_approval');
    // The patient hands the short transfer back, so the clinic wallet holds what the gateway knows of.
    await pay(e, clinic.wallet, 499_999n);
    await sendRefund(e, clinic.owner, (approved.body as ResolutionBody).calldata!);
    await mine(e, CONFIRMATIONS);
    expect(await matchRefunds(refundMatcher(e))).toBe(1);
    expect((await exceptionNow(exception.id)).status).toBe('resolved');
  });
});

describe('bad input', () => {
  it('refuses a refund larger than what was received (422 amount_exceeds_received), and non-positive amounts', async () => {
    const clinic = await clinicWithWallet(r.env);
    const { exception } = await overpayment(clinic, '10.00', 10_250_000n);
    const tooMuch = await propose(exception.id, { action: 'refund', amount: '250001' });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body).toMatchObject({ code: 'amount_exceeds_received', param: 'amount' });
    expect((await propose(exception.id, { action: 'refund', amount: '0' })).status).toBe(400);
    expect((await propose(exception.id, { action: 'refund', amount: '-5' })).status).toBe(400);
    expect(
      (await propose(exception.id, { action: 'apply_to_invoice', amount: '250001', target_invoice_id: (await newInvoice(r.env, clinic)).id })).body,
    ).toMatchObject({
      code: 'amount_exceeds_received',
    });
    // A partial refund is fine.
    const partial = await propose(exception.id, { action: 'refund', amount: '250000' });
    expect(partial.status).toBe(201);
    expect(partial.body).toMatchObject({ amount: '250000' });
  });

  it('a write-off needs a reason; the proposer cannot approve; a second user can, once; a resolved exception takes no new resolution (409)', async () => {
    const e = r.env;
    const clinic = await clinicWithWallet(e);
    const { invoice, exception } = await overpayment(clinic, '10.00', 10_100_000n);

    const noReason = await propose(exception.id, { action: 'write_off' });
    expect(noReason.status).toBe(400);
    expect(noReason.body).toMatchObject({ code: 'invalid_request', param: 'reason' });
    expect((await propose(exception.id, { action: 'write_off', reason: '   ' })).body).toMatchObject({ status: 400, param: 'reason' });
    expect((await propose(exception.id, { action: 'apply_to_invoice' })).body).toMatchObject({ status: 400, param: 'target_invoice_id' });
    expect((await propose(exception.id, { action: 'give_away' })).status).toBe(400);
    // Releasing or keeping held decides a payment held by screening, not an overpayment.
    for (const action of ['release', 'keep_held']) {
      expect((await propose(exception.id, { action, reason: 'x' })).body).toMatchObject({ status: 400, param: 'action' });
    }

    // Roles: only finance proposes and approves.
    for (const token of [tokenFor('clinic_admin', clinic.id), tokenFor('clinic_staff', clinic.id), tokenFor('auditor'), tokenFor('platform_admin')]) {
      expect((await propose(exception.id, { action: 'write_off', reason: 'x' }, token)).status).toBe(403);
    }
    expect((await propose('exc_000000000000000000000000', { action: 'write_off', reason: 'x' })).status).toBe(404);

    const key = 'write-off-once';
    const body = { action: 'write_off', reason: 'Rounding difference agreed with the patient' };
    const withKey = () => request(r.app).post(`/v1/exceptions/${exception.id}/resolutions`).set(bearer(FINANCE_A)).set('Idempotency-Key', key).send(body);
    const proposed = await withKey();
    expect(proposed.status).toBe(201);
    const replayed = await withKey();
    expect(replayed.status).toBe(201);
    expect(replayed.headers['idempotent-replayed']).toBe('true');
    expect(replayed.body).toEqual(proposed.body);
    const resolution = proposed.body as ResolutionBody;
    expect(resolution).toMatchObject({ action: 'write_off', status: 'pending_approval', amount: '100000', reason: body.reason });

    // Pending: no second proposal.
    const whilePending = await propose(exception.id, { action: 'refund' }, FINANCE_B);
    expect(whilePending.status).toBe(409);
    expect(whilePending.body).toMatchObject({ code: 'exception_not_open' });

    const self = await approve(resolution.id, FINANCE_A);
    expect(self.status).toBe(403);
    expect(self.body).toMatchObject({ code: 'forbidden' });
    expect((await approve(resolution.id, tokenFor('auditor'))).status).toBe(403);
    expect((await approve(resolution.id, tokenFor('finance', (await newClinic(e)).id, 'finance-elsewhere'))).status).toBe(404);
    expect((await approve('res_000000000000000000000000')).status).toBe(404);

    const approved = await approve(resolution.id);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'completed', approved_by: 'finance-bob', payment_uri: null });
    const again = await approve(resolution.id);
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'resolution_not_pending' });

    const resolved = await exceptionNow(exception.id);
    expect(resolved).toMatchObject({ status: 'resolved' });
    const afterResolved = await propose(exception.id, { action: 'refund' });
    expect(afterResolved.status).toBe(409);
    expect(afterResolved.body).toMatchObject({ code: 'exception_not_open' });

    // The write-off's own entry: the received excess is kept as the clinic's.
    expect(await entriesOfKind(e.db, 'write_off', { resolution_id: resolution.id })).toEqual([
      expect.objectContaining({ invoice_id: invoice.id, postings: { 'patient_payments+': 100_000n, 'written_off-': -100_000n } }),
    ]);
    // Readers: auditors may read a resolution, clinic users may not, other clinics' finance get 404.
    expect((await get(r.app, tokenFor('auditor'), `/v1/resolutions/${resolution.id}`)).status).toBe(200);
    expect((await get(r.app, tokenFor('clinic_admin', clinic.id), `/v1/resolutions/${resolution.id}`)).status).toBe(403);
    expect((await get(r.app, tokenFor('finance', (await newClinic(e)).id, 'finance-other'), `/v1/resolutions/${resolution.id}`)).status).toBe(404);
    await expectLedgerInvariants(e);
  });
});

describe('apply_to_invoice', () => {
  it("credits an overpayment's excess to another open invoice of the clinic once approved; other clinics' and voided invoices are refused", async () => {
    const e = r.env;
    const clinic = await clinicWithWallet(e);
    const otherClinic = await newClinic(e);
    const target = await newInvoice(e, clinic, { amount: '2.34' });
    const bigger = await newInvoice(e, clinic, { amount: '50.00' });
    const voided = await newInvoice(e, clinic, { amount: '2.34' });
    await withTransaction(e.db, (trx) => voidInvoice(trx, TEST_ACTOR, admin, voided.id));
    const ofOtherClinic = await newInvoice(e, otherClinic, { amount: '2.34' });
    const { invoice: source, exception } = await overpayment(clinic, '10.00', 12_340_000n);
    expect(exception.amount).toBe('2340000');

    for (const targetId of [ofOtherClinic.id, voided.id, source.id, 'inv_000000000000000000000000']) {
      const refused = await propose(exception.id, { action: 'apply_to_invoice', target_invoice_id: targetId });
      expect({ targetId, status: refused.status, code: refused.body.code, param: refused.body.param }).toEqual({
        targetId,
        status: 422,
        code: 'invalid_target_invoice',
        param: 'target_invoice_id',
      });
    }

    const proposed = await propose(exception.id, { action: 'apply_to_invoice', target_invoice_id: target.id });
    expect(proposed.status).toBe(201);
    expect(proposed.body).toMatchObject({ action: 'apply_to_invoice', status: 'pending_approval', amount: '2340000', target_invoice_id: target.id });
    // Nothing moves before approval.
    expect(await readInvoice(e, target.id)).toMatchObject({ status: 'open', token_amount_paid: '0' });
    expect((await approve((proposed.body as ResolutionBody).id, FINANCE_A)).status).toBe(403);

    const approved = await approve((proposed.body as ResolutionBody).id);
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({ status: 'completed', approved_by: 'finance-bob' });
    const credited = await readInvoice(e, target.id);
    expect(credited).toMatchObject({ status: 'paid', token_amount_paid: '2340000' });
    expect(credited.paid_at).not.toBeNull();
    expect(await readInvoice(e, source.id)).toMatchObject({ status: 'paid', token_amount_paid: '10000000' });
    expect(await readInvoice(e, bigger.id)).toMatchObject({ status: 'open', token_amount_paid: '0' });
    const [entry, ...others] = await entriesOfKind(e.db, 'application', { resolution_id: (proposed.body as ResolutionBody).id });
    expect(others).toEqual([]);
    expect(entry).toMatchObject({ invoice_id: target.id });
    expect((await exceptionNow(exception.id)).status).toBe('resolved');

    // The books still agree with the chain, and a new run finds nothing new about either invoice.
    await settleAll(e);
    const run = await reconcile(r.app);
    expect(run.status).toBe('completed');
    expect(run.counts.balance_mismatches).toBe(0);
    expect(await listExceptions(r.app, FINANCE_A, { invoice_id: source.id, status: 'open' })).toEqual([]);
    expect(await listExceptions(r.app, FINANCE_A, { invoice_id: target.id })).toEqual([]);
    await expectLedgerInvariants(e);
  });

  it('an excess smaller than the target leaves the target underpaid', async () => {
    const e = r.env;
    const clinic = await clinicWithWallet(e);
    const target = await newInvoice(e, clinic, { amount: '5.00' });
    const { exception } = await overpayment(clinic, '10.00', 11_000_000n);
    const proposed = await propose(exception.id, { action: 'apply_to_invoice', target_invoice_id: target.id });
    expect((await approve((proposed.body as ResolutionBody).id)).status).toBe(200);
    expect(await readInvoice(e, target.id)).toMatchObject({ status: 'underpaid', token_amount_paid: '1000000' });
  });
});

describe('after a resolution', () => {
  it('a further payment into an invoice whose overpayment was resolved is open in the queue again, for the new excess', async () => {
    const e = r.env;
    const clinic = await clinicWithWallet(e);
    const { invoice, exception } = await overpayment(clinic, '10.00', 10_200_000n);
    const proposed = await propose(exception.id, { action: 'write_off', reason: 'Small excess kept, agreed with the patient' });
    expect((await approve((proposed.body as ResolutionBody).id)).status).toBe(200);
    expect((await exceptionNow(exception.id)).status).toBe('resolved');

    // "A second payment into an invoice that is already paid is an overpayment too."
    await pay(e, invoice.deposit_address, 3_000_000n);
    await settleAll(e);
    const run = await reconcile(r.app);
    expect(run.status).toBe('completed');
    const open = await listExceptions(r.app, FINANCE_A, { invoice_id: invoice.id, status: 'open' });
    expect(open.map((item) => [item.type, item.amount])).toEqual([['overpayment', '3000000']]);
  });
});

describe('a transfer of another token into a deposit address', () => {
  const foreign: { invoice: InvoiceRow; exception: ExceptionBody }[] = [];
  let clinic: Awaited<ReturnType<typeof clinicWithWallet>>;

  beforeAll(async () => {
    const e = r.env;
    clinic = await clinicWithWallet(e);
    const otherToken = await deployTestToken(e.chain, e.owner, 6);
    await mint(e.chain, e.owner, otherToken, e.payer.address, 10n ** 12n);
    const invoices = [];
    for (let index = 0; index < 3; index += 1) {
      const invoice = await newInvoice(e, clinic, { amount: '12.34' });
      await pay(e, invoice.deposit_address, 12_340_000n, { token: otherToken });
      invoices.push(invoice);
    }
    await settleAll(e);
    await reconcile(r.app);
    for (const invoice of invoices) foreign.push({ invoice, exception: await exceptionOf(r.app, 'unknown_transfer', invoice.id) });
  });

  it('cannot be refunded through the gateway (422 refund_not_possible): the clinic wallet never received it', async () => {
    const response = await propose(foreign[0]!.exception.id, { action: 'refund' });
    expect({ status: response.status, code: response.body.code }).toEqual({ status: 422, code: 'refund_not_possible' });
  });

  it('cannot be applied to another invoice (422): it is not the invoice token', async () => {
    const target = await newInvoice(r.env, clinic, { amount: '12.34' });
    const response = await propose(foreign[1]!.exception.id, { action: 'apply_to_invoice', target_invoice_id: target.id });
    expect(response.status).toBe(422);
    expect(await readInvoice(r.env, target.id)).toMatchObject({ token_amount_paid: '0' });
  });

  it('written off, posts nothing in the invoice token to the ledger', async () => {
    const proposed = await propose(foreign[2]!.exception.id, { action: 'write_off', reason: 'Sent back by the clinic in the other token' });
    expect(proposed.status).toBe(201);
    expect((await approve((proposed.body as ResolutionBody).id)).status).toBe(200);
    expect((await exceptionNow(foreign[2]!.exception.id)).status).toBe('resolved');
    expect(await entriesOfKind(r.env.db, 'write_off', { resolution_id: (proposed.body as ResolutionBody).id })).toEqual([]);
  });
});

describe('a transfer the ledger never credited (from nowhere)', () => {
  it('applied to another open invoice once approved, credits that invoice and leaves the invoice it arrived at as it was', async () => {
    const e = r.env;
    const clinic = await clinicWithWallet(e);
    const arrivedAt = await newInvoice(e, clinic, { amount: '12.34' });
    const target = await newInvoice(e, clinic, { amount: '12.34' });
    await settleAll(e);
    await payBehindWatcher(e, arrivedAt.deposit_address, 12_340_000n);
    await settle(e);
    const run = await reconcile(r.app);
    expect(run.status).toBe('completed');
    const exception = await exceptionOf(r.app, 'unknown_transfer', arrivedAt.id);
    expect(exception.amount).toBe('12340000');

    const proposed = await propose(exception.id, { action: 'apply_to_invoice', target_invoice_id: target.id });
    expect(proposed.status).toBe(201);
    const approved = await approve((proposed.body as ResolutionBody).id);
    expect({ status: approved.status, code: approved.body.code }).toEqual({ status: 200, code: undefined });
    expect(await readInvoice(e, target.id)).toMatchObject({ status: 'paid', token_amount_paid: '12340000' });
    expect(await readInvoice(e, arrivedAt.id)).toMatchObject({ token_amount_paid: '0' });
    expect((await exceptionNow(exception.id)).status).toBe('resolved');
  });
});
