/**
 * Idempotent POSTs with Stripe semantics: the same `Idempotency-Key` and body replay the first
 * response byte for byte (status included, even a 500); the same key with another body is a
 * 422; a concurrent duplicate waits for the first and then replays it.
 *
 * The key is written in the same database transaction as the state change, so a crash or a
 * rollback leaves neither, and the unique key makes a concurrent duplicate block on the
 * first's insert instead of running twice.
 */
import { createHash } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { Db, Trx } from '../db/knex.js';
import { ClinicPayError, ValidationError } from '../errors.js';
import type { Logger } from '../log.js';
import { principalOf } from './auth.js';
import { toJsonText } from './json.js';
import { PROBLEM_CONTENT_TYPE, problemBody, problemFromError } from './problem.js';

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
/** Keys are kept at least this long (the purge removes only older ones). */
export const IDEMPOTENCY_KEY_RETENTION_HOURS = 48;

export interface IdempotentResult {
  status: number;
  body: unknown;
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
    const key = req.get(IDEMPOTENCY_KEY_HEADER);
    if (key === undefined) throw new ValidationError(`Every POST needs an ${IDEMPOTENCY_KEY_HEADER} header (a unique string of up to 255 characters).`, IDEMPOTENCY_KEY_HEADER);
    if (!KEY_PATTERN.test(key)) throw new ValidationError(`${IDEMPOTENCY_KEY_HEADER} must be 1 to 255 printable ASCII characters without spaces.`, IDEMPOTENCY_KEY_HEADER);
    const principal = principalOf(res);
    // Scoped per caller: two clinics (or two users) may happen to pick the same key.
    const scope = `${principal.role}|${principal.sub}|${principal.clinicId ?? '*'}`;
    const fingerprint = requestFingerprint(req);
    const requestId = res.locals.requestId as string | undefined;

    const trx = await db.transaction();
    let stored: StoredResponse;
    try {
      const inserted = await trx('idempotency_keys')
        .insert({ scope, key, fingerprint, method: req.method, path: req.path, response_status: 0, response_content_type: '', response_body: '' })
        .onConflict(['scope', 'key'])
        .ignore()
        .returning('key');
      if (inserted.length === 0) {
        await trx.rollback();
        const existing = (await db('idempotency_keys').where({ scope, key }).first()) as StoredResponse | undefined;
        if (!existing) throw new Error('idempotency key vanished between insert and read');
        if (existing.fingerprint !== fingerprint) {
          throw new ClinicPayError('idempotency_key_reused', `This ${IDEMPOTENCY_KEY_HEADER} was already used with a different request; use a new key for a new request.`, {
            status: 422,
            param: IDEMPOTENCY_KEY_HEADER,
          });
        }
        replay(res, existing, true);
        return;
      }
      const result = await work(trx, req, res);
      stored = { fingerprint, response_status: result.status, response_content_type: 'application/json', response_body: toJsonText(result.body) };
      await trx('idempotency_keys').where({ scope, key }).update(stored);
      await trx.commit();
    } catch (error) {
      if (!trx.isCompleted()) await trx.rollback();
      if (error instanceof ClinicPayError && error.code === 'idempotency_key_reused') throw error;
      // The endpoint ran and failed: that outcome is the response this key replays from now on.
      const { problem, expected } = problemFromError(error);
      if (!expected) logger.error({ err: error, req_id: requestId, method: req.method, path: req.path }, 'unhandled error');
      stored = { fingerprint, response_status: problem.status, response_content_type: PROBLEM_CONTENT_TYPE, response_body: toJsonText(problemBody(problem, requestId)) };
      await db('idempotency_keys')
        .insert({ scope, key, method: req.method, path: req.path, ...stored })
        .onConflict(['scope', 'key'])
        .ignore();
    }
    replay(res, stored, false);
  };
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

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Deletes keys older than the retention window; returns how many went. */
export async function purgeIdempotencyKeys(db: Db, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - IDEMPOTENCY_KEY_RETENTION_HOURS * 3600_000);
  return db('idempotency_keys').where('created_at', '<', cutoff).del();
}
