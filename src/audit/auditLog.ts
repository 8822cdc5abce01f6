/**
 * audit/ — the tamper-evident record of every state change, and its only writer. Other
 * folders hand it events (in their own transaction); it appends, chains, lists and verifies.
 *
 * The audit log: every state-changing action, appended in the transaction that makes the
 * change, hash-chained so that an edit, an insertion or a removal anywhere shows.
 *
 * `row_hash = sha256(prev_hash || canonical)`, where `canonical` is the RFC 8785 JSON of the
 * row's fields (everything but `seq` and the hashes) and the first row's `prev_hash` is 64
 * zeros. Writers add events to `audit_inbox` in their own transaction and wait for nobody; the
 * chainer ({@link chainPendingAudit}, one leader among the gateway's workers) moves them onto the
 * chain in batches, oldest first, through the owner's function `audit_chain_pending`, where the
 * trigger `audit_chain_row` gives each row its position and hashes under the row lock of
 * `audit_head` (so the chain never forks) and refuses UPDATE, DELETE and TRUNCATE.
 * {@link verifyAuditLog} recomputes the whole chain. Readers that show the log to people catch
 * the chain up first, so they see every event committed before they asked.
 *
 * Summaries carry amounts, statuses and ids — never line-item descriptions or anything else a
 * patient told the clinic.
 *
 * Owns tables: audit_log, audit_head, audit_inbox.
 * May import: platform, domain.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../domain/canonicalJson.js';
import { type Db, type InsertStatement, runInsert, type Trx } from '../platform/db.js';
import { ValidationError } from '../platform/errors.js';
import { failpoint } from '../platform/failpoints.js';
import { newId } from '../platform/ids.js';
import type { Page, PageRequest } from '../platform/pagination.js';

export const GENESIS_HASH = '0'.repeat(64);

/** Who did it: a caller of the API, or one of the gateway's own workers. */
export interface AuditActor {
  actor: string;
  role: string;
  requestId?: string | null | undefined;
  /**
   * How the actor authenticated, for people and programs calling the API: `method` (`session`,
   * `jwt`, `api_key`) and, for actions that need a fresh passkey, the `step_up` that allowed it.
   */
  auth?: AuditSummary | null | undefined;
}

/** The gateway's own actors, for what no API caller asked for. */
export const SYSTEM = {
  gateway: { actor: 'system:gateway', role: 'system' },
  watcher: { actor: 'system:watcher', role: 'system' },
  flusher: { actor: 'system:flusher', role: 'system' },
  reconciler: { actor: 'system:reconciler', role: 'system' },
  expirer: { actor: 'system:expirer', role: 'system' },
  relayer: { actor: 'system:relayer', role: 'system' },
  /** The operator at the command line (`npx clinicpay …`). */
  operator: { actor: 'system:operator-cli', role: 'system' },
} as const satisfies Record<string, AuditActor>;

export type AuditSummary = Record<string, string | number | boolean | null>;

export interface AuditEvent {
  action: string;
  target: { type: string; id: string };
  clinicId?: string | null | undefined;
  before?: AuditSummary | null | undefined;
  after?: AuditSummary | null | undefined;
}

/** An audit row as written: the columns the canonical text is made of, and the text. */
export interface AuditRowValues {
  id: string;
  occurred_at: string;
  actor: string;
  role: string;
  action: string;
  target_type: string;
  target_id: string;
  clinic_id: string | null;
  request_id: string | null;
  before: AuditSummary | null;
  after: AuditSummary | null;
  /** How the actor authenticated; null for the gateway's own actors and rows written before it was recorded. */
  auth?: AuditSummary | null | undefined;
}

/** The text a row's hash covers: every field, `auth` only when there is one (older rows' text stays as it was). */
export function auditCanonical(values: AuditRowValues): string {
  const { auth, ...rest } = values;
  return canonicalJson(auth === null || auth === undefined ? rest : { ...rest, auth });
}

/** `sha256(prev_hash || canonical)` in hex, as the database computes it. */
export function auditRowHash(prevHash: string, canonical: string): string {
  return createHash('sha256').update(Buffer.from(prevHash, 'hex')).update(canonical, 'utf8').digest('hex');
}

/** The event to add for `event` (the chain adds seq and the hashes when it takes it). */
export function auditRow(actor: AuditActor, event: AuditEvent, occurredAt = new Date()): AuditRowValues & { canonical: string } {
  const values: AuditRowValues = {
    id: newId('aud'),
    occurred_at: occurredAt.toISOString(),
    actor: actor.actor,
    role: actor.role,
    action: event.action,
    target_type: event.target.type,
    target_id: event.target.id,
    clinic_id: event.clinicId ?? null,
    request_id: actor.requestId ?? null,
    before: event.before ?? null,
    after: event.after ?? null,
    auth: actor.auth ?? null,
  };
  return { ...values, canonical: auditCanonical(values) };
}

/**
 * The statement that adds `events`, in order, to the audit inbox (the chainer adds seq and the
 * hashes). For a caller that writes its audit events in the same statement as its change;
 * everyone else calls {@link appendAudit}.
 */
export function auditInsert(actor: AuditActor, events: readonly AuditEvent[], occurredAt = new Date()): InsertStatement {
  const rows = events.map((event) => auditRow(actor, event, occurredAt));
  return {
    text: (condition) =>
      `INSERT INTO audit_inbox (id, occurred_at, actor, role, action, target_type, target_id, clinic_id, request_id, before, after, auth, canonical)
       SELECT id, occurred_at, actor, role, action, target_type, target_id, clinic_id, request_id, before, after, auth, canonical
       FROM ROWS FROM (jsonb_to_recordset(?::jsonb) AS (id text, occurred_at timestamptz, actor text, role text, action text, target_type text,
         target_id text, clinic_id text, request_id text, before jsonb, after jsonb, auth jsonb, canonical text))
         WITH ORDINALITY AS x(id, occurred_at, actor, role, action, target_type, target_id, clinic_id, request_id, before, after, auth, canonical, position)
       ${condition === undefined ? '' : `WHERE ${condition}`}
       ORDER BY position`,
    bindings: [JSON.stringify(rows)],
  };
}

/** Rows per append statement: far below Postgres's parameter and statement limits. */
const APPEND_CHUNK = 1000;

/**
 * Records `events` inside `trx`, in order: they reach the chain once `trx` commits and the
 * chainer takes them (see {@link chainPendingAudit}); if `trx` rolls back, they never happened.
 *
 * @example
 * await appendAudit(trx, actor, [{ action: 'invoice.voided', target: { type: 'invoice', id },
 *   clinicId, before: { status: 'open' }, after: { status: 'void' } }]);
 */
export async function appendAudit(trx: Trx, actor: AuditActor, events: readonly AuditEvent[]): Promise<void> {
  const occurredAt = new Date();
  for (let start = 0; start < events.length; start += APPEND_CHUNK)
    await runInsert(trx, auditInsert(actor, events.slice(start, start + APPEND_CHUNK), occurredAt));
}

/** Events per move onto the chain: one statement, a few milliseconds, the head locked only that long. */
export const CHAIN_BATCH = 1000;

/**
 * Moves events waiting in the inbox onto the chain, oldest first, in batches of `batch`, until
 * none is left or `maxRows` have moved; returns how many moved. Safe to call from anywhere at
 * any time: callers take turns on the chain's head, a caller that dies mid-batch moves nothing,
 * and one that returns has chained every event committed before it was called (up to
 * `maxRows`). The gateway's chainer calls it in a loop; readers call it before they read.
 */
export async function chainPendingAudit(db: Db, options: { batch?: number; maxRows?: number } = {}): Promise<number> {
  const batch = options.batch ?? CHAIN_BATCH;
  const maxRows = options.maxRows ?? Number.POSITIVE_INFINITY;
  let moved = 0;
  while (moved < maxRows) {
    failpoint('audit.before_chaining');
    const result = (await db.raw('SELECT audit_chain_pending(?) AS moved', [Math.min(batch, maxRows - moved)])) as { rows: { moved: number }[] };
    const count = result.rows[0]!.moved;
    moved += count;
    if (count === 0) break;
  }
  return moved;
}

/** The most a reader moves onto the chain before it reads: a read costs at most a few batches, however far behind the chainer is. */
const READER_CATCH_UP = 10 * CHAIN_BATCH;

/**
 * Chains what is waiting before a read that shows the log to someone, so that it shows every
 * event committed before they asked (the chainer may be a moment behind).
 */
export async function catchUpChain(db: Db): Promise<void> {
  await chainPendingAudit(db, { maxRows: READER_CATCH_UP });
}

/** Events written but not yet on the chain: how many, and how long the oldest has waited. */
export async function auditChainLag(db: Db): Promise<{ pending: number; oldestSeconds: number }> {
  const row = (await db('audit_inbox').first(
    db.raw('count(*)::int AS pending'),
    db.raw('coalesce(extract(epoch FROM now() - min(occurred_at)), 0)::float AS oldest'),
  )) as {
    pending: number;
    oldest: number;
  };
  return { pending: row.pending, oldestSeconds: Math.max(0, row.oldest) };
}

export interface AuditRow extends AuditRowValues {
  seq: string;
  canonical: string;
  prev_hash: string;
  row_hash: string;
}

interface StoredAuditRow extends Omit<AuditRow, 'occurred_at' | 'seq'> {
  seq: string;
  occurred_at: Date;
}

function fromStored(row: StoredAuditRow): AuditRow {
  return { ...row, seq: String(row.seq), occurred_at: row.occurred_at.toISOString() };
}

/** Where `targetId` appears in the chain: each row's position, action, time and hash, oldest first. */
export async function auditTrailOf(db: Db, targetId: string): Promise<{ seq: string; action: string; occurred_at: string; row_hash: string }[]> {
  await catchUpChain(db);
  const rows = (await db('audit_log').where({ target_id: targetId }).orderBy('seq').select('seq', 'action', 'occurred_at', 'row_hash')) as {
    seq: string;
    action: string;
    occurred_at: Date;
    row_hash: string;
  }[];
  return rows.map((row) => ({ seq: String(row.seq), action: row.action, occurred_at: row.occurred_at.toISOString(), row_hash: row.row_hash }));
}

/** The row as the API shows it. */
export function presentAuditRow(row: AuditRow): Record<string, unknown> {
  return { object: 'audit_row', ...row };
}

export interface AuditLogFilter {
  action?: string | undefined;
  targetId?: string | undefined;
  targetType?: string | undefined;
  actor?: string | undefined;
  /** Rows that happened at or after this instant. */
  occurredFrom?: Date | undefined;
  /** Rows that happened before this instant. */
  occurredBefore?: Date | undefined;
}

/** A page of the log (of one clinic's rows when `scope` names one), newest first, by `seq`; cursors are row ids. */
export async function listAuditLog(db: Db, scope: { clinicId: string | undefined }, filter: AuditLogFilter, page: PageRequest): Promise<Page<AuditRow>> {
  if (page.startingAfter !== undefined && page.endingBefore !== undefined)
    throw new ValidationError('Use starting_after or ending_before, not both.', 'ending_before');
  await catchUpChain(db);
  const query = db('audit_log');
  if (scope.clinicId !== undefined) query.where('clinic_id', scope.clinicId);
  if (filter.action !== undefined) query.where('action', filter.action);
  if (filter.targetId !== undefined) query.where('target_id', filter.targetId);
  if (filter.targetType !== undefined) query.where('target_type', filter.targetType);
  if (filter.actor !== undefined) query.where('actor', filter.actor);
  if (filter.occurredFrom !== undefined) query.where('occurred_at', '>=', filter.occurredFrom);
  if (filter.occurredBefore !== undefined) query.where('occurred_at', '<', filter.occurredBefore);
  const cursorId = page.startingAfter ?? page.endingBefore;
  const backwards = page.endingBefore !== undefined;
  if (cursorId !== undefined) {
    const anchors = db('audit_log').where({ id: cursorId });
    if (scope.clinicId !== undefined) anchors.where('clinic_id', scope.clinicId);
    const anchor = (await anchors.first('seq')) as { seq: string } | undefined;
    if (!anchor) throw new ValidationError(`No audit row ${cursorId} to page from.`, backwards ? 'ending_before' : 'starting_after');
    query.where('seq', backwards ? '>' : '<', anchor.seq);
  }
  const rows = (await query.orderBy('seq', backwards ? 'asc' : 'desc').limit(page.limit + 1)) as StoredAuditRow[];
  const data = rows.slice(0, page.limit).map(fromStored);
  return { data: backwards ? data.reverse() : data, hasMore: rows.length > page.limit };
}

export interface AuditVerification {
  object: 'audit_log_verification';
  ok: boolean;
  rows_checked: number;
  head: { seq: string; row_hash: string } | null;
  first_broken: { seq: string; id: string | null; reason: string } | null;
}

const VERIFY_BATCH = 5000;

/**
 * Recomputes the chain from the first row: every row's fields must give its canonical text,
 * its hash must follow from its predecessor's, positions must run without gaps, and the last
 * row must be the recorded head (a removed tail shows there). Reads in batches: memory stays
 * flat however long the log.
 */
export async function verifyAuditLog(db: Db): Promise<AuditVerification> {
  await catchUpChain(db);
  let prevHash = GENESIS_HASH;
  let expectedSeq = 1n;
  let checked = 0;
  const broken = (seq: bigint | string, id: string | null, reason: string): AuditVerification => ({
    object: 'audit_log_verification',
    ok: false,
    rows_checked: checked,
    head: null,
    first_broken: { seq: String(seq), id, reason },
  });
  for (;;) {
    const rows = (await db('audit_log').where('seq', '>=', expectedSeq.toString()).orderBy('seq').limit(VERIFY_BATCH)) as StoredAuditRow[];
    for (const stored of rows) {
      const row = fromStored(stored);
      const seq = BigInt(row.seq);
      if (seq !== expectedSeq) return broken(expectedSeq, null, `row ${expectedSeq} is missing (the next row is ${seq})`);
      if (row.prev_hash !== prevHash) return broken(seq, row.id, "prev_hash is not the previous row's row_hash");
      const { seq: _seq, canonical, prev_hash: _prev, row_hash: rowHash, ...values } = row;
      if (auditCanonical(values) !== canonical) return broken(seq, row.id, "the row's fields differ from the text its hash covers");
      if (auditRowHash(prevHash, canonical) !== rowHash) return broken(seq, row.id, 'row_hash does not match sha256(prev_hash || canonical)');
      prevHash = rowHash;
      expectedSeq = seq + 1n;
      checked += 1;
    }
    if (rows.length < VERIFY_BATCH) break;
  }
  const head = (await db('audit_head').first('seq', 'row_hash')) as { seq: string; row_hash: string };
  const lastSeq = expectedSeq - 1n;
  if (BigInt(head.seq) !== lastSeq || head.row_hash !== prevHash) {
    return broken(
      BigInt(head.seq) > lastSeq ? lastSeq + 1n : BigInt(head.seq),
      null,
      `the chain ends at row ${lastSeq} but its recorded head is row ${head.seq}`,
    );
  }
  return {
    object: 'audit_log_verification',
    ok: true,
    rows_checked: checked,
    head: checked === 0 ? null : { seq: lastSeq.toString(), row_hash: prevHash },
    first_broken: null,
  };
}

/** The last row written before `at` (the head a statement of a period ending at `at` names). */
export async function auditHeadBefore(db: Db | Trx, at: Date): Promise<{ seq: string; row_hash: string } | null> {
  const row = (await db('audit_log').where('occurred_at', '<', at).orderBy('seq', 'desc').first('seq', 'row_hash')) as
    | { seq: string; row_hash: string }
    | undefined;
  return row ? { seq: String(row.seq), row_hash: row.row_hash } : null;
}
