/**
 * webhooks/ — telling clinics' systems what happened: the outbox, signing and delivery.
 *
 * The webhook outbox: events are written in the same transaction as the state change they
 * announce, and delivered afterwards by the dispatcher. An event that is never committed is
 * never sent; a committed one is sent until it succeeds or its retries run out.
 *
 * Owns tables: webhook_events, webhook_deliveries.
 * May import: platform, domain, audit, identity, billing.
 */
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import { clinicsSharingPatientRef } from '../billing/clinics.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';

export const WEBHOOK_EVENT_TYPES = [
  'invoice.processing',
  'invoice.paid',
  'invoice.underpaid',
  'invoice.overpaid',
  'invoice.expired',
  'invoice.voided',
  'payment.late',
  'payment.void_invoice',
  'payment.reorged',
  'payment.held',
  'settlement.forwarded',
  'clinic.settlement_address_change_requested',
  'clinic.settlement_address_change_cancelled',
  'clinic.settlement_address_changed',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export interface EnqueueWebhookEventParameters {
  clinicId: string;
  type: WebhookEventType;
  /**
   * The object the event is about, in its webhook form (no line-item descriptions). A
   * `patient_ref` in it is kept only for clinics that opted in to receiving it.
   */
  data: Record<string, unknown>;
}

/**
 * Records an event for the clinic's webhook endpoint inside `trx`; returns its id (`evt_…`),
 * which receivers use to drop duplicates.
 */
export async function enqueueWebhookEvent(trx: Trx, event: EnqueueWebhookEventParameters): Promise<string> {
  const [id] = await insertEvents(trx, [event]);
  return id!;
}

/** Records many events inside `trx`, in one insert. */
export async function enqueueWebhookEvents(trx: Trx, events: readonly EnqueueWebhookEventParameters[]): Promise<void> {
  await insertEvents(trx, events);
}

async function insertEvents(trx: Trx, events: readonly EnqueueWebhookEventParameters[]): Promise<string[]> {
  const sharing = await clinicsSharingPatientRef(
    trx,
    events.filter(({ data }) => 'patient_ref' in data).map(({ clinicId }) => clinicId),
  );
  if (events.length === 0) return [];
  const rows = events.map(({ clinicId, type, data }) => {
    const { patient_ref: patientRef, ...rest } = data;
    const object = sharing.has(clinicId) || patientRef === undefined ? data : rest;
    return { id: newId('evt'), clinic_id: clinicId, type, payload: { object } };
  });
  // One statement however many events (one parameter, not four per row).
  await trx.raw(
    `INSERT INTO webhook_events (id, clinic_id, type, payload)
     SELECT * FROM jsonb_to_recordset(?::jsonb) AS x(id text, clinic_id text, type text, payload jsonb)`,
    [JSON.stringify(rows)],
  );
  return rows.map(({ id }) => id);
}

/**
 * An invoice's API form with line-item descriptions removed: webhooks are sent to systems
 * outside the gateway, and descriptions are health data (docs/decisions/0009-health-data-stays-minimal.md).
 */
export function webhookInvoice(apiInvoice: Record<string, unknown>): Record<string, unknown> {
  const lineItems = apiInvoice.line_items as { quantity: number; unit_amount: string }[] | undefined;
  // The checkout URL opens a page with the descriptions: it stays out for the same reason.
  const { checkout_url: _checkoutUrl, ...invoice } = apiInvoice;
  return {
    ...invoice,
    line_items: (lineItems ?? []).map(({ quantity, unit_amount }) => ({ quantity, unit_amount })),
  };
}

export const WEBHOOK_EVENT_STATUSES = ['pending', 'delivered', 'failed', 'skipped'] as const;
export type WebhookEventStatus = (typeof WEBHOOK_EVENT_STATUSES)[number];
/** The most recent attempts shown with an event; older ones stay in the delivery log. */
export const MAX_DELIVERIES_SHOWN = 100;

export interface WebhookEventRow {
  id: string;
  clinic_id: string;
  type: WebhookEventType;
  payload: { object: Record<string, unknown> };
  status: WebhookEventStatus;
  attempts: number;
  next_attempt_at: Date;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
}

export interface WebhookDeliveryRow {
  id: string;
  event_id: string;
  url: string;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  attempted_at: Date;
}

/** The event if it is in `scope`; {@link NotFoundError} otherwise (never "forbidden"). */
export async function getWebhookEvent(db: Db | Trx, scope: ClinicScope, id: string, { forUpdate = false } = {}): Promise<WebhookEventRow> {
  const query = scopeQuery(db('webhook_events').where({ id }), scope).first();
  const row = (await (forUpdate ? query.forUpdate() : query)) as WebhookEventRow | undefined;
  if (!row) throw new NotFoundError('webhook event');
  return row;
}

/** The event's delivery attempts, newest first, at most {@link MAX_DELIVERIES_SHOWN}. */
export async function listWebhookDeliveries(db: Db | Trx, eventId: string): Promise<WebhookDeliveryRow[]> {
  return (await db('webhook_deliveries').where({ event_id: eventId }).orderBy('id', 'desc').limit(MAX_DELIVERIES_SHOWN)) as WebhookDeliveryRow[];
}

export interface WebhookEventFilters {
  type?: WebhookEventType;
  status?: WebhookEventStatus;
}

/** One page of the events in `scope`, newest first. */
export async function listWebhookEvents(db: Db, scope: ClinicScope, filters: WebhookEventFilters, page: PageRequest): Promise<Page<WebhookEventRow>> {
  const query = scopeQuery(db('webhook_events'), scope);
  if (filters.type !== undefined) query.where({ type: filters.type });
  if (filters.status !== undefined) query.where({ status: filters.status });
  return keysetPage<WebhookEventRow>(query, page, scopeQuery(db('webhook_events'), scope));
}

/**
 * Queues the event to be sent again, whatever became of it so far: back to `pending`, due now,
 * with a fresh set of attempts. The dispatcher's next pass sends it (with the same event id,
 * so a receiver that already has it can tell).
 */
export async function redeliverWebhookEvent(trx: Trx, actor: AuditActor, scope: ClinicScope, id: string): Promise<WebhookEventRow> {
  await getWebhookEvent(trx, scope, id, { forUpdate: true });
  const [row] = (await trx('webhook_events')
    .where({ id })
    .update({ status: 'pending', attempts: 0, next_attempt_at: trx.fn.now(), delivered_at: null, last_error: null })
    .returning('*')) as WebhookEventRow[];
  await appendAudit(trx, actor, [
    {
      action: 'webhook_event.redelivery_requested',
      target: { type: 'webhook_event', id },
      clinicId: row!.clinic_id,
      after: { type: row!.type, status: row!.status },
    },
  ]);
  return row!;
}

/** The API form of an event; `deliveries` when given (the single-event view). */
export function presentWebhookEvent(row: WebhookEventRow, deliveries?: WebhookDeliveryRow[]): Record<string, unknown> {
  return {
    object: 'webhook_event',
    id: row.id,
    clinic_id: row.clinic_id,
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    // Only a pending event has a next attempt.
    next_attempt_at: row.status === 'pending' ? row.next_attempt_at.toISOString() : null,
    last_error: row.last_error,
    created_at: row.created_at.toISOString(),
    delivered_at: row.delivered_at?.toISOString() ?? null,
    data: row.payload.object,
    ...(deliveries === undefined ? {} : { deliveries: deliveries.map(presentWebhookDelivery) }),
  };
}

function presentWebhookDelivery(row: WebhookDeliveryRow): Record<string, unknown> {
  return {
    object: 'webhook_delivery',
    attempt: row.attempt,
    url: row.url,
    status_code: row.status_code,
    error: row.error,
    duration_ms: row.duration_ms,
    attempted_at: row.attempted_at.toISOString(),
  };
}

/** Webhook events stored before `cutoff` whose payload still carries a patient reference, oldest first. */
export async function webhookEventsWithPatientRefBefore(db: Db | Trx, cutoff: Date): Promise<{ id: string; clinic_id: string; created_at: Date }[]> {
  return (await db('webhook_events')
    .where('created_at', '<', cutoff)
    .whereRaw(`payload->'object'->>'patient_ref' IS NOT NULL`)
    .orderBy('created_at')
    .select('id', 'clinic_id', 'created_at')) as { id: string; clinic_id: string; created_at: Date }[];
}

/** Takes the patient reference out of these events' stored payloads (personal data past its retention). */
export async function erasePatientRefs(trx: Trx, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return trx('webhook_events')
    .whereIn('id', [...ids])
    .update({ payload: trx.raw(`payload #- '{object,patient_ref}'`) });
}
