/**
 * The ClinicPay client: every operation of the gateway's API for a clinic's own systems, typed
 * from `openapi.yaml`, with idempotency keys, retries, typed errors and the webhook check.
 *
 * @example
 * import { ClinicPay } from 'clinicpay/client';
 * const clinicpay = new ClinicPay({ apiKey: process.env.CLINICPAY_API_KEY, baseUrl: 'https://pay.example-clinic.hk' });
 * const invoice = await clinicpay.invoices.create({ patient_ref: 'P-0001', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '350.00' }] });
 * console.log(invoice.checkout_url);
 */
import {
  ApiKeys,
  AuditLog,
  Checkout,
  Clinics,
  Events,
  Exceptions,
  Fhir,
  Gateway,
  Invoices,
  Ledger,
  Memberships,
  Payments,
  PriceList,
  Reconciliations,
  Resolutions,
  SettlementAddressChanges,
  Statements,
  TokenRevocations,
} from './resources.js';
import { type ClinicPayOptions, Transport } from './transport.js';
import { constructEvent, SIGNATURE_HEADER, signPayload } from './webhooks.js';

const webhooks = { constructEvent, signPayload, SIGNATURE_HEADER } as const;

export class ClinicPay {
  /** Checking deliveries: `await ClinicPay.webhooks.constructEvent(rawBody, signatureHeader, secret)`. Needs no API key. */
  static readonly webhooks = webhooks;
  readonly webhooks = webhooks;

  readonly invoices: Invoices;
  readonly clinics: Clinics;
  readonly settlementAddressChanges: SettlementAddressChanges;
  readonly apiKeys: ApiKeys;
  readonly memberships: Memberships;
  readonly priceList: PriceList;
  readonly events: Events;
  readonly ledger: Ledger;
  readonly reconciliations: Reconciliations;
  readonly exceptions: Exceptions;
  readonly resolutions: Resolutions;
  readonly auditLog: AuditLog;
  readonly statements: Statements;
  readonly payments: Payments;
  readonly tokenRevocations: TokenRevocations;
  readonly fhir: Fhir;
  readonly checkout: Checkout;
  readonly gateway: Gateway;

  constructor(options: ClinicPayOptions) {
    const transport = new Transport(options);
    this.invoices = new Invoices(transport);
    this.clinics = new Clinics(transport);
    this.settlementAddressChanges = new SettlementAddressChanges(transport);
    this.apiKeys = new ApiKeys(transport);
    this.memberships = new Memberships(transport);
    this.priceList = new PriceList(transport);
    this.events = new Events(transport);
    this.ledger = new Ledger(transport);
    this.reconciliations = new Reconciliations(transport);
    this.exceptions = new Exceptions(transport);
    this.resolutions = new Resolutions(transport);
    this.auditLog = new AuditLog(transport);
    this.statements = new Statements(transport);
    this.payments = new Payments(transport);
    this.tokenRevocations = new TokenRevocations(transport);
    this.fhir = new Fhir(transport);
    this.checkout = new Checkout(transport);
    this.gateway = new Gateway(transport);
  }
}

export default ClinicPay;
export type * from './api.js';
export { OPERATIONS } from './api.js';
export * from './errors.js';
export type { AutoPagingList } from './resources.js';
export type { ClinicPayOptions, RequestOptions } from './transport.js';
export { CLIENT_VERSION } from './transport.js';
export type { ClinicPayEvent, ConstructEventOptions, WebhookInvoice } from './webhooks.js';
export { constructEvent, DEFAULT_TOLERANCE_SECONDS, SIGNATURE_HEADER, signPayload } from './webhooks.js';
