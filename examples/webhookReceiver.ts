/**
 * A clinic system's webhook endpoint: it checks each delivery's signature, handles each event
 * once however often it arrives, and marks the patient's bill paid when the invoice is.
 *
 *     CLINICPAY_WEBHOOK_SECRET=whsec_… PORT=4242 npx tsx examples/webhookReceiver.ts
 *
 * and set the clinic's `webhook_url` to http://<this host>:4242/clinicpay/webhooks. The bills and
 * the events already handled live in memory here; a real system keeps both in its database, the
 * event id under a unique constraint, written in the same transaction as the bill.
 */
import { ClinicPay, type ClinicPayEvent, WebhookSignatureError } from 'clinicpay/client';
import express from 'express';

const secret = process.env.CLINICPAY_WEBHOOK_SECRET;
if (!secret) throw new Error('Set CLINICPAY_WEBHOOK_SECRET to the clinic webhook secret');

/** The practice system's bills, by ClinicPay invoice id. */
const bills = new Map<string, { status: 'awaiting payment' | 'paid'; paidAt?: string }>();
/** Event ids already handled: the gateway delivers at least once, so the same event can come twice. */
const handled = new Set<string>();

const app = express();
// The signature covers the exact bytes sent: read the body raw, and parse it only once it checks out.
app.post('/clinicpay/webhooks', express.raw({ type: 'application/json', limit: '1mb' }), async (req, res) => {
  let event: ClinicPayEvent;
  try {
    event = await ClinicPay.webhooks.constructEvent(req.body, req.get('ClinicPay-Signature'), secret);
  } catch (error) {
    if (error instanceof WebhookSignatureError) {
      console.log(`refused a delivery: ${error.reason}`);
      res.status(400).send('bad signature');
      return;
    }
    throw error;
  }
  if (handled.has(event.id)) {
    console.log(`${event.id} ${event.type}: already handled`);
    res.sendStatus(200);
    return;
  }
  if (event.type === 'invoice.paid' || event.type === 'invoice.overpaid') {
    bills.set(event.data.id, { status: 'paid', paidAt: event.data.paid_at ?? undefined });
    console.log(`${event.id} ${event.type}: bill for invoice ${event.data.number} (${event.data.id}) marked paid, HK$${event.data.amount_paid}`);
  } else {
    console.log(`${event.id} ${event.type}`);
  }
  // Only once it is handled: if handling fails, the gateway's next attempt gets another chance.
  handled.add(event.id);
  // Answer fast: anything other than 2xx, or no answer in 10 s, and the gateway tries again later.
  res.sendStatus(200);
});

const server = app.listen(Number(process.env.PORT ?? 4242), '127.0.0.1', () => {
  const address = server.address();
  console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : ''}/clinicpay/webhooks`);
});
process.on('SIGTERM', () => server.close());
