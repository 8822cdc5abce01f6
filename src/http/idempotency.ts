/**
 * Idempotent POSTs with Stripe semantics: the same `Idempotency-Key` and body replay the first
 * response byte for byte (status included, even a 500); the same key with another body is a
 * 422; a concurrent duplicate waits for the first and then replays it.
 *
 * The key is written in the same database transaction as the state change, so a crash or a
 * rollback leaves neither; the unique key makes a concurrent duplicate wait for the first and
 * roll its own work back, so only one of them ever commits.
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { type AuditEvent, auditInsert } from '../audit/auditLog.js';
import { canonicalJson } from '../domain/canonicalJson.js';
import { type Db, type InsertStatement, runPrepared, type SelectStatement, type Trx } from '../platform/db.js';
import { ValidationError } from '../platform/errors.js';
import type { Logger } from '../platform/log.js';
import { errorSummary } from '../platform/log.js';
import { actorOf, principalOf } from './auth.js';
import { IdempotencyKeyReusedError, RateLimitedError } from './errors.js';
import { toJsonText } from './json.js';
import { PROBLEM_CONTENT_TYPE, problemBody, problemFromError } from './problem.js';
import { routeLabel } from './requestContext.js';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** Keys are kept at least this long (the purge removes only older ones). */
export const IDEMPOTENCY_KEY_RETENTION_HOURS = 48;

export interface IdempotentResult {
  status: number;
  body: unknown;
  /**
   * What a replay of this request answers, when it must differ from `body`: a secret or a
   * credential is shown once, never kept in a stored response (a replay shows `null` there).
   */
  replayBody?: unknown;
}

/** The work of a POST: runs inside the transaction that also records its key and response. */
export type IdempotentWork = (trx: Trx, req: Request, res: Response) => Promise<IdempotentResult>;

interface StoredResponse {
  fingerprint: string;
  response_status: number;
  response_content_type: string;
  response_body: string;
}

/** Wraps `work` as an idempotent POST handler. */
export function idempotent(db: Db, logger: Logger, work: IdempotentWork): RequestHandler {
  return async (req, res) => {
    const context = idempotencyContext(req, res);
    const { scope, key, fingerprint } = context;

    // A completed key replays at once, without running the work again.
    const existing = await readStored(db, scope, key);
    if (existing) {
      replayOrRefuse(res, existing, fingerprint);
      return;
    }

    const trx = await db.transaction();
    try {
      const result = await work(trx, req, res);
      const stored = {
        fingerprint,
        response_status: result.status,
        response_content_type: 'application/json',
        response_body: toJsonText(result.replayBody ?? result.body),
      };
      // Written last: a concurrent duplicate blocks here on the first one's uncommitted key, then
      // finds it committed, rolls its own work back and replays the first response.
      const inserted = await trx('idempotency_keys')
        .insert({ scope, key, method: req.method, path: req.path, ...stored })
        .onConflict(['scope', 'key'])
        .ignore()
        .returning('key');
      if (inserted.length === 0) {
        await trx.rollback();
        replayOrRefuse(res, (await readStored(db, scope, key))!, fingerprint);
        return;
      }
      await trx.commit();
      replay(res, { ...stored, response_body: toJsonText(result.body) }, false);
    } catch (error) {
      if (!trx.isCompleted()) await trx.rollback();
      await storeFailure(db, logger, req, context, error, res);
    }
  };
}

/**
 * A create prepared in memory by the folder that owns it: its response, the inserts that write
 * it (each written by the table's owner), and what the audit log records of it.
 */
export interface PreparedCreate extends IdempotentResult {
  writes: InsertStatement[];
  audit: AuditEvent[];
}

/**
 * A create, checked against the request but not yet read nor written: what it needs to read
 * (run only when the key is new, so a replay takes nothing, e.g. no invoice number), and how
 * it is prepared from the row that returned (`undefined` when none did).
 */
export interface CreatePlan<Read> {
  read: SelectStatement;
  prepare(read: Read | undefined): PreparedCreate;
}

/**
 * Idempotent POST for creating rows, in two statements. The first looks the key up and, only
 * when it is new, runs the create's read. The second is ONE statement: the key is inserted, and
 * the create's inserts and audit rows run only if the key was new (`WITH k AS (INSERT … ON
 * CONFLICT DO NOTHING RETURNING 1), w1 AS (INSERT … WHERE EXISTS (SELECT 1 FROM k)) … INSERT
 * INTO audit_inbox … WHERE EXISTS (SELECT 1 FROM k)`). Atomic without an explicit transaction,
 * and a connection is held for one round trip at a time. `plan` refuses a bad request before
 * anything is read; neither it nor `prepare` may write.
 */
export function idempotentCreate<Read>(db: Db, logger: Logger, plan: (req: Request, res: Response) => CreatePlan<Read>): RequestHandler {
  return async (req, res) => {
    const context = idempotencyContext(req, res);
    const { scope, key, fingerprint } = context;
    let planned: CreatePlan<Read>;
    try {
      planned = plan(req, res);
    } catch (error) {
      // A known key answers as it did the first time, even if this body is refused.
      const existing = await readStored(db, scope, key);
      if (existing) replayOrRefuse(res, existing, fingerprint);
      else await storeFailure(db, logger, req, context, error, res);
      return;
    }
    let found: Awaited<ReturnType<typeof readStoredOrRun>>;
    try {
      found = await readStoredOrRun(db, scope, key, planned.read);
    } catch (error) {
      // The create's read failed: as when any part of the create fails, that is what this key answers.
      await storeFailure(db, logger, req, context, error, res);
      return;
    }
    // A known key replays before anything is prepared: a retry takes no new invoice number.
    if (found.stored) {
      replayOrRefuse(res, found.stored, fingerprint);
      return;
    }
    let prepared: PreparedCreate;
    try {
      prepared = planned.prepare((found.read ?? undefined) as Read | undefined);
    } catch (error) {
      await storeFailure(db, logger, req, context, error, res);
      return;
    }
    const stored = {
      fingerprint,
      response_status: prepared.status,
      response_content_type: 'application/json',
      response_body: toJsonText(prepared.replayBody ?? prepared.body),
    };
    // The statement's row count is that of the audit rows, written last: zero exactly when the key was known.
    if (prepared.audit.length === 0) throw new Error('a create must say what the audit log records of it');
    const keyIsNew = 'EXISTS (SELECT 1 FROM k)';
    const statements = [...prepared.writes, auditInsert(actorOf(res), prepared.audit)];
    const result = await runPrepared(
      db,
      `WITH k AS (
         INSERT INTO idempotency_keys (scope, key, fingerprint, method, path, response_status, response_content_type, response_body)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (scope, key) DO NOTHING RETURNING 1)${statements
           .slice(0, -1)
           .map((statement, index) => `,\n       w${index} AS (${statement.text(keyIsNew)})`)
           .join('')}
       ${statements.at(-1)!.text(keyIsNew)}`,
      [
        scope,
        key,
        fingerprint,
        req.method,
        req.path,
        stored.response_status,
        stored.response_content_type,
        stored.response_body,
        ...statements.flatMap((statement) => statement.bindings),
      ],
    );
    if (result.rowCount === 0) {
      replayOrRefuse(res, (await readStored(db, scope, key))!, fingerprint);
      return;
    }
    replay(res, { ...stored, response_body: toJsonText(prepared.body) }, false);
  };
}

/**
 * The response stored under the key; or, when there is none, what `read` returned (as JSON),
 * in one round trip. `read` runs only for a new key.
 */
async function readStoredOrRun(db: Db, scope: string, key: string, read: SelectStatement): Promise<{ stored?: StoredResponse; read?: unknown }> {
  const { rows } = await runPrepared<{ [column in keyof StoredResponse]: StoredResponse[column] | null } & { read: unknown }>(
    db,
    `SELECT s.fingerprint, s.response_status, s.response_content_type, s.response_body, to_json(r) AS read
       FROM (SELECT) AS one
       LEFT JOIN idempotency_keys s ON s.scope = ? AND s.key = ?
       LEFT JOIN LATERAL (${read.text('s.key IS NULL')}) r ON true`,
    [scope, key, ...read.bindings],
  );
  const { read: readRow, ...stored } = rows[0]!;
  return stored.fingerprint === null ? { read: readRow } : { stored: stored as StoredResponse };
}

interface IdempotencyContext {
  scope: string;
  key: string;
  fingerprint: string;
  requestId: string | undefined;
}

function idempotencyContext(req: Request, res: Response): IdempotencyContext {
  const key = req.get(IDEMPOTENCY_KEY_HEADER);
  if (key === undefined)
    throw new ValidationError(`Every POST needs an ${IDEMPOTENCY_KEY_HEADER} header (a unique string of up to 255 characters).`, IDEMPOTENCY_KEY_HEADER);
  if (!KEY_PATTERN.test(key))
    throw new ValidationError(`${IDEMPOTENCY_KEY_HEADER} must be 1 to 255 printable ASCII characters without spaces.`, IDEMPOTENCY_KEY_HEADER);
  const principal = principalOf(res);
  // Scoped per caller: two clinics (or two users) may happen to pick the same key.
  return {
    scope: `${principal.role}|${principal.sub}|${principal.clinicId ?? '*'}`,
    key,
    fingerprint: requestFingerprint(req),
    requestId: res.locals.requestId as string | undefined,
  };
}

/**
 * The endpoint ran and failed: that outcome is the response this key replays from now on
 * (unless a concurrent duplicate stored its own outcome first; then that one is the answer).
 */
async function storeFailure(db: Db, logger: Logger, req: Request, context: IdempotencyContext, error: unknown, res: Response): Promise<void> {
  const { scope, key, fingerprint, requestId } = context;
  // A caller over a limit asks again with the same key: nothing ran, so nothing is replayed.
  if (error instanceof RateLimitedError) throw error;
  const { problem, expected } = problemFromError(error);
  if (!expected) logger.error({ err: errorSummary(error), req_id: requestId, method: req.method, route: routeLabel(req, 500) }, 'unhandled error');
  const stored = {
    fingerprint,
    response_status: problem.status,
    response_content_type: PROBLEM_CONTENT_TYPE,
    response_body: toJsonText(problemBody(problem, requestId)),
  };
  await db('idempotency_keys')
    .insert({ scope, key, method: req.method, path: req.path, ...stored })
    .onConflict(['scope', 'key'])
    .ignore();
  replayOrRefuse(res, (await readStored(db, scope, key)) ?? stored, fingerprint, false);
}

async function readStored(db: Db, scope: string, key: string): Promise<StoredResponse | undefined> {
  return (await db('idempotency_keys').where({ scope, key }).first('fingerprint', 'response_status', 'response_content_type', 'response_body')) as
    | StoredResponse
    | undefined;
}

/** Replays a stored response, or refuses (422) when the key was first used for another request. */
function replayOrRefuse(res: Response, stored: StoredResponse, fingerprint: string, replayed = true): void {
  if (stored.fingerprint !== fingerprint) {
    throw new IdempotencyKeyReusedError(IDEMPOTENCY_KEY_HEADER);
  }
  replay(res, stored, replayed);
}

function replay(res: Response, stored: StoredResponse, replayed: boolean): void {
  if (replayed) res.setHeader('Idempotent-Replayed', 'true');
  res.status(stored.response_status).type(stored.response_content_type).send(stored.response_body);
}

/** A hash of what makes two requests "the same": method, path and the body's meaning (key order aside). */
export function requestFingerprint(req: Pick<Request, 'method' | 'path' | 'body'>): string {
  return createHash('sha256')
    .update(`${req.method}\n${req.path}\n${canonicalJson(req.body ?? null)}`)
    .digest('hex');
}

/** Deletes keys older than the retention window; returns how many went. */
export async function purgeIdempotencyKeys(db: Db, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - IDEMPOTENCY_KEY_RETENTION_HOURS * 3600_000);
  return db('idempotency_keys').where('created_at', '<', cutoff).del();
}
