/**
 * One deposit that cannot be flushed does not hold back the others of its batch: the batch's
 * flushMany reverts, each deposit is tried alone by simulation, and the good ones are sent
 * again together; only the bad one uses up an attempt.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InvoiceRow } from '../src/billing/invoices.js';
import {
  balanceOf,
  flush,
  newClinic,
  newInvoice,
  type Payment,
  pay,
  type SettlementEnv,
  settle,
  startSettlementEnv,
  startWatcherHere,
} from './support/settlement.js';

let env: SettlementEnv;

beforeAll(async () => {
  env = await startSettlementEnv();
});
afterAll(async () => env?.close());

describe('a batch with one bad deposit', () => {
  it('forwards the others, and retries only the bad one', async () => {
    await startWatcherHere(env);
    const clinic = await newClinic(env);
    const invoices: InvoiceRow[] = [];
    const payments: Payment[] = [];
    for (let i = 0; i < 3; i += 1) {
      const invoice = await newInvoice(env, clinic, { amount: `${10 + i}.00` });
      invoices.push(invoice);
      payments.push(await pay(env, invoice.deposit_address, BigInt(invoice.token_amount_due)));
    }
    await settle(env);
    expect(await env.db('flush_requests').where({ status: 'pending' }).count('* as n').first()).toEqual({ n: '3' });
    // The middle deposit's destination becomes one the factory refuses (as a frozen wallet would
    // be refused by a regulated token): its flush, and so the whole flushMany, reverts.
    await env
      .db('invoices')
      .where({ id: invoices[1]!.id })
      .update({ settlement_address: `0x${'00'.repeat(20)}` });

    const result = await flush(env);
    expect(result).toEqual({ flushed: 2, retried: 1, failed: 0 });
    const requests = await env.db('flush_requests').orderBy('invoice_id').select('invoice_id', 'status', 'attempts', 'last_error');
    const byInvoice = new Map(requests.map((row) => [row.invoice_id as string, row]));
    expect(byInvoice.get(invoices[0]!.id)).toMatchObject({ status: 'done', attempts: 1, last_error: null });
    expect(byInvoice.get(invoices[2]!.id)).toMatchObject({ status: 'done', attempts: 1, last_error: null });
    expect(byInvoice.get(invoices[1]!.id)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(byInvoice.get(invoices[1]!.id)!.last_error).toMatch(/ZeroDestination|revert/i);
    const due = (index: number) => BigInt(invoices[index]!.token_amount_due);
    expect(await balanceOf(env, clinic.wallet)).toBe(due(0) + due(2));
    expect(await balanceOf(env, invoices[1]!.deposit_address)).toBe(due(1));
  });
});
