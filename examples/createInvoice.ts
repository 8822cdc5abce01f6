/**
 * A clinic system bills a patient: it creates an invoice for the visit and prints the link the
 * patient pays at. Run it against `npm start`:
 *
 *     CLINICPAY_API_KEY=$(node -p "require('./.data/dev-stack.json').api_keys.clinic_staff") \
 *       npx tsx examples/createInvoice.ts P-0001 "Consultation" 350.00
 */
import { ClinicPay, InvalidRequestError } from 'clinicpay/client';

const [patientRef = 'P-0001', description = 'Consultation', amount = '350.00'] = process.argv.slice(2);
const baseUrl = process.env.CLINICPAY_URL ?? 'http://127.0.0.1:3000';
const clinicpay = new ClinicPay({ apiKey: process.env.CLINICPAY_API_KEY ?? '', baseUrl });

try {
  // The client sends an Idempotency-Key with the POST and retries it on a dropped connection:
  // the gateway creates one invoice however many times the request reaches it.
  const invoice = await clinicpay.invoices.create({
    patient_ref: patientRef,
    currency: 'HKD',
    line_items: [{ description, quantity: 1, unit_amount: amount }],
    metadata: { visit: `visit-${Date.now()}` },
  });
  console.log(`Invoice ${invoice.number} (${invoice.id}) for HK$${invoice.amount_due}, ${invoice.status}`);
  // Shown in this answer only: give it to the patient (SMS, e-mail, a QR code at the counter).
  // (After a retry of its own the client reissues it, so it is here.) A gateway without
  // PUBLIC_URL answers a path, on the gateway's own address.
  console.log(`Checkout: ${new URL(invoice.checkout_url ?? '', baseUrl)}`);
} catch (error) {
  if (error instanceof InvalidRequestError) {
    // The gateway's own words, unchanged: which field, and why.
    console.error(`Refused: ${error.message} (${error.code}${error.param ? `, ${error.param}` : ''}; request ${error.requestId})`);
    process.exitCode = 2;
  } else {
    throw error;
  }
}
