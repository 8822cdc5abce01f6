/**
 * The client's methods, one resource per kind of object, each method one operation of
 * `openapi.yaml` (named in its comment and in its call). Parameters, bodies and answers are the
 * contract's own types (`api.ts`, generated), so a call the contract would refuse does not
 * compile. `test/client.test.ts` fails when an operation of the contract has no method here and
 * is not one of the pages for people's browsers.
 */
import type { OperationId, Operations } from './api.js';
import type { RequestOptions, Transport } from './transport.js';

type Body<Op extends OperationId> = Operations[Op]['body'];
type Query<Op extends OperationId> = Operations[Op]['query'];
type Answer<Op extends OperationId> = Promise<Operations[Op]['response']>;
type ListOperation = {
  [Op in OperationId]: Operations[Op]['query'] extends { starting_after?: string } ? Op : never;
}[OperationId];
type Item<Op extends ListOperation> = Operations[Op]['response'] extends { data: (infer T)[] } ? T : never;

/**
 * The first page of a list when awaited; every object of every page, newest first, when iterated
 * with `for await` (pages are fetched as the loop reaches them). With `ending_before` the
 * iteration walks towards newer objects instead.
 */
export type AutoPagingList<Op extends ListOperation> = Promise<Operations[Op]['response']> & AsyncIterable<Item<Op>>;

abstract class Resource {
  constructor(protected readonly transport: Transport) {}

  protected paginate<Op extends ListOperation>(operationId: Op, query: Query<Op> | undefined, options: RequestOptions | undefined): AutoPagingList<Op> {
    const call = (page: Query<Op> | undefined) =>
      this.transport.call(operationId, { query: page } as never, options) as Promise<{ data: Item<Op>[]; has_more: boolean }>;
    const first = call(query);
    // Iterating without awaiting must not leave the first page's failure unhandled: the loop reports it.
    first.catch(() => {});
    // Every later page is the same query with the cursor moved to the edge of the page before.
    const { starting_after: _after, ending_before: before, ...rest } = (query ?? {}) as Record<string, unknown>;
    const backwards = before !== undefined;
    return Object.assign(first as Promise<Operations[Op]['response']>, {
      async *[Symbol.asyncIterator](): AsyncIterator<Item<Op>> {
        let page = await first;
        for (;;) {
          yield* page.data;
          if (!page.has_more || page.data.length === 0) return;
          const edge = (backwards ? page.data[0] : page.data[page.data.length - 1]) as { id: string };
          page = await call({ ...rest, ...(backwards ? { ending_before: edge.id } : { starting_after: edge.id }) } as Query<Op>);
        }
      },
    });
  }
}

/** Invoices: what a clinic bills a patient, with its deposit address and checkout link. */
export class Invoices extends Resource {
  /**
   * `createInvoice`: a new invoice. Its `checkout_url` (the patient's page) is in this answer only.
   *
   * The gateway keeps only the link's hash, so when the client had to retry (the first answer was
   * lost on the way) the replayed answer has `checkout_url: null`. With a key of its own making,
   * nobody can have seen the first link, so the client issues a new one
   * (`reissueCheckoutLink`) and answers with it. With your own `idempotencyKey` it leaves that to
   * you: an earlier call of yours may have shown the first link to the patient.
   */
  async create(body: Body<'createInvoice'>, options?: RequestOptions): Answer<'createInvoice'> {
    const invoice = await this.transport.call('createInvoice', { body }, options);
    if (invoice.checkout_url !== null || options?.idempotencyKey !== undefined) return invoice;
    const { signal, timeoutMs, maxRetries } = options ?? {};
    const link = await this.reissueCheckoutLink(invoice.id, { signal, timeoutMs, maxRetries });
    return { ...invoice, checkout_url: link.checkout_url };
  }

  /** `getInvoice`: one invoice, with its payments and forwarding and their confirmations. */
  retrieve(id: string, options?: RequestOptions): Answer<'getInvoice'> {
    return this.transport.call('getInvoice', { path: { id } }, options);
  }

  /** `listInvoices`, newest first; `for await` walks every page. */
  list(query?: Query<'listInvoices'>, options?: RequestOptions): AutoPagingList<'listInvoices'> {
    return this.paginate('listInvoices', query, options);
  }

  /** `voidInvoice`: an invoice nobody has paid is void; a payment to it later needs a person. */
  void(id: string, options?: RequestOptions): Answer<'voidInvoice'> {
    return this.transport.call('voidInvoice', { path: { id } }, options);
  }

  /** `reissueCheckoutLink`: a new checkout link; the previous one stops working. */
  reissueCheckoutLink(id: string, options?: RequestOptions): Answer<'reissueCheckoutLink'> {
    return this.transport.call('reissueCheckoutLink', { path: { id } }, options);
  }

  /** `getInvoicePaymentQr`: the payment URI as an SVG QR code. */
  paymentQr(id: string, options?: RequestOptions): Answer<'getInvoicePaymentQr'> {
    return this.transport.call('getInvoicePaymentQr', { path: { id } }, options);
  }
}

/** Clinics: a platform admin's onboarding, and a clinic admin's webhook secret. */
export class Clinics extends Resource {
  /** `createClinic` (platform admin): the answer holds the clinic's `webhook_secret`, this once. */
  create(body: Body<'createClinic'>, options?: RequestOptions): Answer<'createClinic'> {
    return this.transport.call('createClinic', { body }, options);
  }

  /** `getClinic`. */
  retrieve(id: string, options?: RequestOptions): Answer<'getClinic'> {
    return this.transport.call('getClinic', { path: { id } }, options);
  }

  /** `updateClinic` (platform admin): name, webhook URL, what webhooks carry. */
  update(id: string, body: Body<'updateClinic'>, options?: RequestOptions): Answer<'updateClinic'> {
    return this.transport.call('updateClinic', { path: { id }, body }, options);
  }

  /** `rotateWebhookSecret`: a new secret, answered this once; the old one keeps signing for `overlap_hours`. */
  rotateWebhookSecret(id: string, body: Body<'rotateWebhookSecret'> = {}, options?: RequestOptions): Answer<'rotateWebhookSecret'> {
    return this.transport.call('rotateWebhookSecret', { path: { id }, body }, options);
  }
}

/** Where a clinic's money goes: changed only when a second person approves. */
export class SettlementAddressChanges extends Resource {
  /** `proposeSettlementAddressChange` for clinic `clinicId`. */
  create(clinicId: string, body: Body<'proposeSettlementAddressChange'>, options?: RequestOptions): Answer<'proposeSettlementAddressChange'> {
    return this.transport.call('proposeSettlementAddressChange', { path: { id: clinicId }, body }, options);
  }

  /** `listSettlementAddressChanges`. */
  list(query?: Query<'listSettlementAddressChanges'>, options?: RequestOptions): AutoPagingList<'listSettlementAddressChanges'> {
    return this.paginate('listSettlementAddressChanges', query, options);
  }

  /** `getSettlementAddressChange`. */
  retrieve(id: string, options?: RequestOptions): Answer<'getSettlementAddressChange'> {
    return this.transport.call('getSettlementAddressChange', { path: { id } }, options);
  }

  /** `approveSettlementAddressChange`: by someone other than the proposer. */
  approve(id: string, options?: RequestOptions): Answer<'approveSettlementAddressChange'> {
    return this.transport.call('approveSettlementAddressChange', { path: { id } }, options);
  }

  /** `cancelSettlementAddressChange`. */
  cancel(id: string, options?: RequestOptions): Answer<'cancelSettlementAddressChange'> {
    return this.transport.call('cancelSettlementAddressChange', { path: { id } }, options);
  }
}

/** API keys of a clinic's systems (created and revoked by its admin). */
export class ApiKeys extends Resource {
  /** `createApiKey`: the answer's `secret` is shown this once. */
  create(body: Body<'createApiKey'>, options?: RequestOptions): Answer<'createApiKey'> {
    return this.transport.call('createApiKey', { body }, options);
  }

  /** `listApiKeys`. */
  list(query?: Query<'listApiKeys'>, options?: RequestOptions): AutoPagingList<'listApiKeys'> {
    return this.paginate('listApiKeys', query, options);
  }

  /** `revokeApiKey`: refused from the next request on. */
  revoke(id: string, options?: RequestOptions): Answer<'revokeApiKey'> {
    return this.transport.call('revokeApiKey', { path: { id } }, options);
  }
}

/** Who may sign in to the console, and in which role. */
export class Memberships extends Resource {
  /** `createMembership`: an invitation by e-mail address. */
  create(body: Body<'createMembership'>, options?: RequestOptions): Answer<'createMembership'> {
    return this.transport.call('createMembership', { body }, options);
  }

  /** `listMemberships`. */
  list(query?: Query<'listMemberships'>, options?: RequestOptions): AutoPagingList<'listMemberships'> {
    return this.paginate('listMemberships', query, options);
  }

  /** `revokeMembership`: ends the person's sessions too. */
  revoke(id: string, options?: RequestOptions): Answer<'revokeMembership'> {
    return this.transport.call('revokeMembership', { path: { id } }, options);
  }
}

/** The clinic's price list, which the front desk bills from. */
export class PriceList extends Resource {
  /** `listPriceList`: every item in force (one page). */
  list(query?: Query<'listPriceList'>, options?: RequestOptions): Answer<'listPriceList'> {
    return this.transport.call('listPriceList', { query }, options);
  }

  /** `createPriceListItem`. */
  create(body: Body<'createPriceListItem'>, options?: RequestOptions): Answer<'createPriceListItem'> {
    return this.transport.call('createPriceListItem', { body }, options);
  }

  /** `archivePriceListItem`: off the list; invoices that used it keep their lines. */
  archive(id: string, options?: RequestOptions): Answer<'archivePriceListItem'> {
    return this.transport.call('archivePriceListItem', { path: { id } }, options);
  }
}

/** The webhook events the gateway wrote for the clinic, and their delivery log. */
export class Events extends Resource {
  /** `listWebhookEvents`. */
  list(query?: Query<'listWebhookEvents'>, options?: RequestOptions): AutoPagingList<'listWebhookEvents'> {
    return this.paginate('listWebhookEvents', query, options);
  }

  /** `getWebhookEvent`: the event with its deliveries. */
  retrieve(id: string, options?: RequestOptions): Answer<'getWebhookEvent'> {
    return this.transport.call('getWebhookEvent', { path: { id } }, options);
  }

  /** `redeliverWebhookEvent`: send it again (same id, so a receiver that dedupes ignores it). */
  redeliver(id: string, options?: RequestOptions): Answer<'redeliverWebhookEvent'> {
    return this.transport.call('redeliverWebhookEvent', { path: { id } }, options);
  }
}

/** The books: accounts, journal entries, and the check of the daily checkpoints. */
export class Ledger extends Resource {
  /** `listLedgerAccounts`: every account with its balance (one page). */
  listAccounts(query?: Query<'listLedgerAccounts'>, options?: RequestOptions): Answer<'listLedgerAccounts'> {
    return this.transport.call('listLedgerAccounts', { query }, options);
  }

  /** `listJournalEntries`. */
  listEntries(query?: Query<'listJournalEntries'>, options?: RequestOptions): AutoPagingList<'listJournalEntries'> {
    return this.paginate('listJournalEntries', query, options);
  }

  /** `verifyLedgerCheckpoints`: recomputes every daily checkpoint from the postings. */
  verifyCheckpoints(options?: RequestOptions): Answer<'verifyLedgerCheckpoints'> {
    return this.transport.call('verifyLedgerCheckpoints', {}, options);
  }
}

/** Reconciliation runs: the chain re-read and compared with the books. */
export class Reconciliations extends Resource {
  /** `startReconciliation`: runs in the background; poll `retrieve`. */
  create(body: Body<'startReconciliation'> = {}, options?: RequestOptions): Answer<'startReconciliation'> {
    return this.transport.call('startReconciliation', { body }, options);
  }

  /** `getReconciliation`. */
  retrieve(id: string, options?: RequestOptions): Answer<'getReconciliation'> {
    return this.transport.call('getReconciliation', { path: { id } }, options);
  }

  /** `exportReconciliation`: the run's lines as CSV text. */
  export(id: string, query?: Query<'exportReconciliation'>, options?: RequestOptions): Answer<'exportReconciliation'> {
    return this.transport.call('exportReconciliation', { path: { id }, query }, options);
  }
}

/** What reconciliation found that needs a person. */
export class Exceptions extends Resource {
  /** `listExceptions`. */
  list(query?: Query<'listExceptions'>, options?: RequestOptions): AutoPagingList<'listExceptions'> {
    return this.paginate('listExceptions', query, options);
  }

  /** `getException`, with its resolutions. */
  retrieve(id: string, options?: RequestOptions): Answer<'getException'> {
    return this.transport.call('getException', { path: { id } }, options);
  }

  /** `exportExceptions`: as CSV text. */
  export(query?: Query<'exportExceptions'>, options?: RequestOptions): Answer<'exportExceptions'> {
    return this.transport.call('exportExceptions', { query }, options);
  }

  /** `createResolution`: propose a refund, a write-off, …; another person approves it. */
  resolve(id: string, body: Body<'createResolution'>, options?: RequestOptions): Answer<'createResolution'> {
    return this.transport.call('createResolution', { path: { id }, body }, options);
  }
}

/** Resolutions of exceptions, approved by a second person. */
export class Resolutions extends Resource {
  /** `getResolution`. */
  retrieve(id: string, options?: RequestOptions): Answer<'getResolution'> {
    return this.transport.call('getResolution', { path: { id } }, options);
  }

  /** `approveResolution`: by someone other than its proposer. */
  approve(id: string, options?: RequestOptions): Answer<'approveResolution'> {
    return this.transport.call('approveResolution', { path: { id } }, options);
  }
}

/** The hash-chained audit log. */
export class AuditLog extends Resource {
  /** `listAuditLog`. */
  list(query?: Query<'listAuditLog'>, options?: RequestOptions): AutoPagingList<'listAuditLog'> {
    return this.paginate('listAuditLog', query, options);
  }

  /** `verifyAuditLog`: walks the whole chain. */
  verify(options?: RequestOptions): Answer<'verifyAuditLog'> {
    return this.transport.call('verifyAuditLog', {}, options);
  }
}

type StatementFile = 'csv' | 'pdf' | 'fhir';

/** Verifiable statements of a clinic's period, their proofs and anchors. */
export class Statements extends Resource {
  /** `createStatement` as JSON: the lines of `[from, to)`, their Merkle root, and its id. */
  create(query: Omit<Query<'createStatement'>, 'format' | 'lang'>, options?: RequestOptions): Answer<'createStatement'> {
    return this.transport.call('createStatement', { query: { ...query, format: 'json' } }, options);
  }

  /** `createStatement` as a file (CSV, PDF, or a FHIR Bundle): its bytes. */
  download(query: Query<'createStatement'> & { format: StatementFile }, options?: RequestOptions): Promise<Uint8Array> {
    return this.transport.download('createStatement', { query }, options);
  }

  /** `getStatement` as JSON: a statement issued before, as it was issued. */
  retrieve(id: string, options?: RequestOptions): Answer<'getStatement'> {
    return this.transport.call('getStatement', { path: { id }, query: { format: 'json' } }, options);
  }

  /** `getStatement` as a file: its bytes. */
  downloadById(id: string, query: Query<'getStatement'> & { format: StatementFile }, options?: RequestOptions): Promise<Uint8Array> {
    return this.transport.download('getStatement', { path: { id }, query }, options);
  }

  /** `getStatementProof`: the Merkle proof of one line. */
  proof(id: string, query: Query<'getStatementProof'>, options?: RequestOptions): Answer<'getStatementProof'> {
    return this.transport.call('getStatementProof', { path: { id }, query }, options);
  }

  /** `anchorStatement`: puts the root on the chain (or says it is on its way). */
  anchor(id: string, options?: RequestOptions): Answer<'anchorStatement'> {
    return this.transport.call('anchorStatement', { path: { id } }, options);
  }
}

/** What an auditor or a bank asks of one payment. */
export class Payments extends Resource {
  /** `getPaymentEvidence`: the payment, its screening, its postings and its audit rows. */
  evidence(id: string, options?: RequestOptions): Answer<'getPaymentEvidence'> {
    return this.transport.call('getPaymentEvidence', { path: { id } }, options);
  }

  /** `getPaymentTravelRule`: the payer's travel-rule record. */
  travelRule(id: string, options?: RequestOptions): Answer<'getPaymentTravelRule'> {
    return this.transport.call('getPaymentTravelRule', { path: { id } }, options);
  }
}

/** Revoking bearer tokens (platform admin). */
export class TokenRevocations extends Resource {
  /** `revokeTokens`: one token by `jti`, or every token of a subject issued so far. */
  create(body: Body<'revokeTokens'>, options?: RequestOptions): Answer<'revokeTokens'> {
    return this.transport.call('revokeTokens', { body }, options);
  }

  /** `listTokenRevocations`: the latest revocations (one page). */
  list(query?: Query<'listTokenRevocations'>, options?: RequestOptions): Answer<'listTokenRevocations'> {
    return this.transport.call('listTokenRevocations', { query }, options);
  }
}

/** FHIR R4 views for a practice-management or hospital system. */
export class Fhir extends Resource {
  /** `getFhirInvoice`. */
  invoice(id: string, options?: RequestOptions): Answer<'getFhirInvoice'> {
    return this.transport.call('getFhirInvoice', { path: { id } }, options);
  }

  /** `getFhirPaymentReconciliation`. */
  paymentReconciliation(id: string, options?: RequestOptions): Answer<'getFhirPaymentReconciliation'> {
    return this.transport.call('getFhirPaymentReconciliation', { path: { id } }, options);
  }
}

/** The patient's side of an invoice, by its checkout token: for a clinic's own kiosk or app. */
export class Checkout extends Resource {
  /** `getCheckoutStatus`: what the checkout page polls. */
  status(token: string, query?: Query<'getCheckoutStatus'>, options?: RequestOptions): Answer<'getCheckoutStatus'> {
    return this.transport.call('getCheckoutStatus', { path: { token }, query }, options);
  }

  /** `submitTravelRule`: the payer's information and wallet signature, above the threshold. Not retried: it takes no idempotency key. */
  submitTravelRule(token: string, body: Body<'submitTravelRule'>, options?: RequestOptions): Answer<'submitTravelRule'> {
    return this.transport.call('submitTravelRule', { path: { token }, body }, options);
  }

  /** `getCheckoutReceiptPdf`: the paid invoice's receipt as PDF bytes. */
  receiptPdf(token: string, query?: Query<'getCheckoutReceiptPdf'>, options?: RequestOptions): Promise<Uint8Array> {
    return this.transport.download('getCheckoutReceiptPdf', { path: { token }, query }, options);
  }
}

/** The gateway itself: probes, metrics, the contract, and the catalogue of problems. */
export class Gateway extends Resource {
  /** `getHealth`: the process is up. */
  health(options?: RequestOptions): Answer<'getHealth'> {
    return this.transport.call('getHealth', {}, options);
  }

  /** `getReady`: Postgres and the chain node answer. A 503 throws a `ServerError` whose `problem.checks` names the failing one; not retried. */
  ready(options?: RequestOptions): Answer<'getReady'> {
    return this.transport.call('getReady', {}, { maxRetries: 0, ...options });
  }

  /** `getMetrics`: Prometheus text. */
  metrics(options?: RequestOptions): Answer<'getMetrics'> {
    return this.transport.call('getMetrics', {}, options);
  }

  /** `getOpenApi`: the contract this gateway serves, as YAML text. */
  openapi(options?: RequestOptions): Answer<'getOpenApi'> {
    return this.transport.call('getOpenApi', {}, options);
  }

  /** `listProblemTypes`: every problem code with what happened and what to do. */
  problems(options?: RequestOptions): Answer<'listProblemTypes'> {
    return this.transport.call('listProblemTypes', {}, options);
  }

  /** `getProblemType`: one problem code explained. */
  problem(code: string, options?: RequestOptions): Answer<'getProblemType'> {
    return this.transport.call('getProblemType', { path: { code } }, options);
  }
}
