/**
 * The exception queue: every difference a reconciliation run finds, one row per subject, until
 * finance resolves it.
 */

import { apiAddress, storedAddress } from '../domain/address.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';

export const EXCEPTION_TYPES = [
  'overpayment',
  'underpayment_expired',
  'late_payment',
  'payment_to_void_invoice',
  'unknown_transfer',
  'missing_on_chain',
  'balance_mismatch',
  'flush_failed',
  'screening_hit',
  'address_frozen',
  'travel_rule_mismatch',
] as const;
export type ExceptionType = (typeof EXCEPTION_TYPES)[number];
export type ExceptionStatus = 'open' | 'pending_approval' | 'resolved';

/** A difference found by a run; `dedupeKey` names its subject so that runs never duplicate it. */
export interface ExceptionInput {
  dedupeKey: string;
  type: ExceptionType;
  amount: bigint;
  clinicId?: string | undefined;
  invoiceId?: string | undefined;
  txHash?: string | undefined;
  logIndex?: number | undefined;
  blockNumber?: bigint | undefined;
  blockTime?: Date | undefined;
  tokenAddress?: string | undefined;
  fromAddress?: string | undefined;
  expected?: bigint | undefined;
  observed?: bigint | undefined;
  details: Record<string, unknown>;
}

export interface ExceptionRow {
  id: string;
  dedupe_key: string;
  type: ExceptionType;
  status: ExceptionStatus;
  clinic_id: string | null;
  invoice_id: string | null;
  tx_hash: string | null;
  log_index: number | null;
  block_number: string | null;
  block_time: Date | null;
  token_address: string | null;
  from_address: string | null;
  amount: string;
  expected: string | null;
  observed: string | null;
  details: Record<string, unknown>;
  first_run_id: string | null;
  last_run_id: string | null;
  created_at: Date;
  updated_at: Date;
  resolved_at: Date | null;
}

/**
 * Inserts new exceptions and refreshes the evidence of known ones (an open exception keeps its
 * id and status; a resolved one stays resolved). Returns the id of every key and how many were new.
 */
export async function upsertExceptions(trx: Trx, runId: string, inputs: readonly ExceptionInput[]): Promise<{ byKey: Map<string, string>; created: number }> {
  const byKey = new Map<string, string>();
  let created = 0;
  const unique = [...new Map(inputs.map((input) => [input.dedupeKey, input])).values()];
  for (let start = 0; start < unique.length; start += 500) {
    const chunk = unique.slice(start, start + 500);
    const rows = chunk.map((input) => ({
      id: newId('exc'),
      dedupe_key: input.dedupeKey,
      type: input.type,
      clinic_id: input.clinicId ?? null,
      invoice_id: input.invoiceId ?? null,
      tx_hash: input.txHash ?? null,
      log_index: input.logIndex ?? null,
      block_number: input.blockNumber?.toString() ?? null,
      block_time: input.blockTime ?? null,
      token_address: input.tokenAddress ? storedAddress(input.tokenAddress) : null,
      from_address: input.fromAddress ? storedAddress(input.fromAddress) : null,
      amount: input.amount.toString(),
      expected: input.expected?.toString() ?? null,
      observed: input.observed?.toString() ?? null,
      details: input.details,
      first_run_id: runId,
      last_run_id: runId,
    }));
    const result = (await trx.raw(
      `INSERT INTO exceptions (id, dedupe_key, type, clinic_id, invoice_id, tx_hash, log_index, block_number, block_time, token_address, from_address, amount, expected, observed, details, first_run_id, last_run_id)
       SELECT * FROM jsonb_to_recordset(?::jsonb) AS x(id text, dedupe_key text, type text, clinic_id text, invoice_id text, tx_hash text, log_index int, block_number bigint,
         block_time timestamptz, token_address text, from_address text, amount numeric, expected numeric, observed numeric, details jsonb, first_run_id text, last_run_id text)
       ON CONFLICT (dedupe_key) DO UPDATE SET
         last_run_id = EXCLUDED.last_run_id, updated_at = now(),
         amount = CASE WHEN exceptions.status = 'open' THEN EXCLUDED.amount ELSE exceptions.amount END,
         expected = CASE WHEN exceptions.status = 'open' THEN EXCLUDED.expected ELSE exceptions.expected END,
         observed = CASE WHEN exceptions.status = 'open' THEN EXCLUDED.observed ELSE exceptions.observed END
       RETURNING id, dedupe_key, (xmax = 0) AS inserted`,
      [JSON.stringify(rows)],
    )) as { rows: { id: string; dedupe_key: string; inserted: boolean }[] };
    for (const row of result.rows) {
      byKey.set(row.dedupe_key, row.id);
      if (row.inserted) created += 1;
    }
  }
  return { byKey, created };
}

/** The exception if it is in `scope` (one of no clinic is in no clinic's scope); {@link NotFoundError} otherwise. */
export async function getException(db: Db | Trx, scope: ClinicScope, id: string, { forUpdate = false } = {}): Promise<ExceptionRow> {
  const query = scopeQuery(db('exceptions').where({ id }), scope).first('*', db.raw('amount::text AS amount'), db.raw('block_number::text AS block_number'));
  const row = (await (forUpdate ? query.forUpdate() : query)) as ExceptionRow | undefined;
  if (!row) throw new NotFoundError('exception');
  return row;
}

/** The `screening_hit` exception that carries the decision on hold `holdId`, if reconciliation has raised it. */
export async function exceptionOfHold(db: Db | Trx, holdId: string): Promise<ExceptionRow | undefined> {
  return (await db('exceptions').where({ type: 'screening_hit' }).whereRaw(`details->>'hold_id' = ?`, [holdId]).first()) as ExceptionRow | undefined;
}

export interface ExceptionFilters {
  type?: ExceptionType;
  status?: ExceptionStatus;
  invoiceId?: string;
}

/** One page of the exceptions in `scope`, newest first. */
export async function listExceptions(db: Db, scope: ClinicScope, filters: ExceptionFilters, page: PageRequest): Promise<Page<ExceptionRow>> {
  const query = scopeQuery(db('exceptions'), scope).select('*', db.raw('amount::text AS amount'), db.raw('block_number::text AS block_number'));
  if (filters.type !== undefined) query.where({ type: filters.type });
  if (filters.status !== undefined) query.where({ status: filters.status });
  if (filters.invoiceId !== undefined) query.where({ invoice_id: filters.invoiceId });
  return keysetPage<ExceptionRow>(query, page, scopeQuery(db('exceptions'), scope));
}

/** The exceptions in `scope` with the given status and type, oldest first, streamed from a cursor (for exports). */
export function streamExceptions(db: Db, scope: ClinicScope, filters: Pick<ExceptionFilters, 'status' | 'type'>): AsyncIterable<ExceptionRow> {
  const query = scopeQuery(db('exceptions'), scope).orderBy([{ column: 'created_at' }, { column: 'id' }]);
  if (filters.status !== undefined) query.where({ status: filters.status });
  if (filters.type !== undefined) query.where({ type: filters.type });
  return query.stream() as AsyncIterable<ExceptionRow>;
}

/** The API form of an exception, with its evidence. */
export function presentException(row: ExceptionRow): Record<string, unknown> {
  return {
    object: 'exception',
    id: row.id,
    type: row.type,
    status: row.status,
    clinic_id: row.clinic_id,
    invoice_id: row.invoice_id,
    tx_hash: row.tx_hash,
    log_index: row.log_index,
    block_number: row.block_number === null ? null : Number(row.block_number),
    block_time: row.block_time?.toISOString() ?? null,
    token_address: row.token_address ? apiAddress(row.token_address) : null,
    from_address: row.from_address ? apiAddress(row.from_address) : null,
    amount: row.amount,
    expected: row.expected,
    observed: row.observed,
    details: row.details,
    first_run_id: row.first_run_id,
    last_run_id: row.last_run_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    resolved_at: row.resolved_at?.toISOString() ?? null,
  };
}

/** Exceptions still to be worked (open or awaiting approval) in `scope`, counted by type. */
export async function openExceptionCounts(db: Db, scope: ClinicScope): Promise<{ type: string; status: string; count: number }[]> {
  return (await scopeQuery(db('exceptions'), scope)
    .whereIn('status', ['open', 'pending_approval'])
    .groupBy('type', 'status')
    .orderBy(['type', 'status'])
    .select('type', 'status', db.raw('count(*)::int AS count'))) as { type: string; status: string; count: number }[];
}
