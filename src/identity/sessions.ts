/**
 * People's sessions, kept in Postgres: the browser holds only a random secret (the cookie); the
 * row holds its SHA-256, who signed in (issuer, subject, role, clinic), when it was last used and
 * when it ends. Every request looks the row up, so signing out or an expiry refuses the very
 * next request on every gateway instance. A session ends after `idleMs` without a request or
 * `maxMs` after sign-in, whichever comes first.
 *
 * The CSRF token of a session is derived from its secret (a synchronizer token that needs no
 * second cookie): pages carry it, a cross-site page cannot read it, and it changes with every
 * sign-in.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { newId } from '../platform/ids.js';
import type { Principal, Role } from './principal.js';

export interface SessionSettings {
  /** A session unused this long has ended. */
  idleMs: number;
  /** A session this old has ended, however busy. */
  maxMs: number;
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = { idleMs: 30 * 60_000, maxMs: 12 * 3_600_000 };

export interface SessionRow {
  id: string;
  secret_hash: string;
  issuer: string;
  sub: string;
  role: Role;
  clinic_id: string | null;
  email: string | null;
  name: string | null;
  id_token_sealed: string | null;
  created_at: Date;
  last_seen_at: Date;
  expires_at: Date;
  ended_at: Date | null;
  ended_reason: string | null;
  webauthn_challenge: string | null;
  webauthn_challenge_expires_at: Date | null;
  stepped_up_at: Date | null;
  step_up_passkey_id: string | null;
}

/** Why a session ended, as recorded. */
export type SessionEnd = 'signed_out' | 'idle' | 'replaced' | 'expired';

const SECRET_PATTERN = /^[A-Za-z0-9_-]{43}$/;
/** How stale `last_seen_at` may be before a request writes it again: the idle timeout's precision. */
const LAST_SEEN_RESOLUTION_MS = 30_000;

function hashOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** The person a session is for: who the identity provider said, and what ClinicPay lets them do. */
export interface SignedInPerson {
  issuer: string;
  sub: string;
  role: Role;
  clinicId: string | null;
  email: string | null;
  name: string | null;
}

/** The audit actor of a person acting through their session. */
export function sessionActor(person: Pick<SignedInPerson, 'sub' | 'role'>, requestId: string | null): AuditActor {
  return { actor: person.sub, role: person.role, requestId, auth: { method: 'session' } };
}

/**
 * Starts a session for `person` and returns its secret (the cookie's value), this once. A session
 * the browser already had (`replacing`, its secret) ends: signing in always gives a new one.
 */
export async function startSession(
  trx: Trx,
  person: SignedInPerson,
  options: { settings: SessionSettings; idTokenSealed: string | null; replacing: string | undefined; requestId: string | null },
): Promise<{ secret: string; row: SessionRow }> {
  const actor = sessionActor(person, options.requestId);
  if (options.replacing !== undefined && SECRET_PATTERN.test(options.replacing)) {
    const old = (await trx('sessions')
      .where({ secret_hash: hashOf(options.replacing) })
      .whereNull('ended_at')
      .update({ ended_at: trx.fn.now(), ended_reason: 'replaced' })
      .returning(['id', 'clinic_id'])) as { id: string; clinic_id: string | null }[];
    if (old[0])
      await appendAudit(trx, actor, [
        { action: 'session.ended', target: { type: 'session', id: old[0].id }, clinicId: old[0].clinic_id, after: { reason: 'replaced' } },
      ]);
  }
  const secret = randomBytes(32).toString('base64url');
  const [row] = (await trx('sessions')
    .insert({
      id: newId('ses'),
      secret_hash: hashOf(secret),
      issuer: person.issuer,
      sub: person.sub,
      role: person.role,
      clinic_id: person.clinicId,
      email: person.email,
      name: person.name,
      id_token_sealed: options.idTokenSealed,
      expires_at: trx.raw(`now() + make_interval(secs => ?)`, [options.settings.maxMs / 1000]),
    })
    .returning('*')) as SessionRow[];
  await appendAudit(trx, actor, [
    {
      action: 'session.started',
      target: { type: 'session', id: row!.id },
      clinicId: row!.clinic_id,
      after: { role: row!.role, issuer: row!.issuer, expires_at: row!.expires_at.toISOString() },
    },
  ]);
  return { secret, row: row! };
}

/**
 * The live session a cookie's secret names, with the last-seen time moved on; undefined when
 * the secret is malformed or unknown, or its session ended, idled out or expired (an idle
 * session is marked ended here, so it stays ended).
 */
export async function findSession(db: Db, secret: string, settings: SessionSettings, now = new Date()): Promise<SessionRow | undefined> {
  if (!SECRET_PATTERN.test(secret)) return undefined;
  const row = (await db('sessions')
    .where({ secret_hash: hashOf(secret) })
    .first()) as SessionRow | undefined;
  if (!row || row.ended_at !== null) return undefined;
  if (row.expires_at <= now) {
    await endSessionRow(db, row, 'expired');
    return undefined;
  }
  if (now.getTime() - row.last_seen_at.getTime() > settings.idleMs) {
    await endSessionRow(db, row, 'idle');
    return undefined;
  }
  if (now.getTime() - row.last_seen_at.getTime() > LAST_SEEN_RESOLUTION_MS) {
    await db('sessions').where({ id: row.id }).whereNull('ended_at').update({ last_seen_at: now });
    row.last_seen_at = now;
  }
  return row;
}

/** Ends a session that ran out (not audited: nobody acted; the row keeps when and why). */
async function endSessionRow(db: Db, row: SessionRow, reason: SessionEnd): Promise<void> {
  await db('sessions').where({ id: row.id }).whereNull('ended_at').update({ ended_at: db.fn.now(), ended_reason: reason });
}

/** The principal a live session stands for. */
export function sessionPrincipal(row: SessionRow): Principal {
  return {
    sub: row.sub,
    role: row.role,
    clinicId: row.clinic_id ?? undefined,
    method: 'session',
    session: { id: row.id, issuer: row.issuer, steppedUpAt: row.stepped_up_at, stepUpPasskeyId: row.step_up_passkey_id },
  };
}

/** Signs a session out (audited as the person's act); false when it had already ended. */
export async function endSession(trx: Trx, row: SessionRow, requestId: string | null): Promise<boolean> {
  const ended = (await trx('sessions').where({ id: row.id }).whereNull('ended_at').update({ ended_at: trx.fn.now(), ended_reason: 'signed_out' })) as number;
  if (ended === 0) return false;
  await appendAudit(trx, sessionActor(row, requestId), [
    { action: 'session.ended', target: { type: 'session', id: row.id }, clinicId: row.clinic_id, after: { reason: 'signed_out' } },
  ]);
  return true;
}

/** The CSRF token of the session whose secret is `secret`. */
export function csrfTokenOf(secret: string): string {
  return createHash('sha256').update(`clinicpay-csrf\0${secret}`).digest('base64url');
}

/** Whether `offered` is the CSRF token of the session `secret`, compared in constant time. */
export function isCsrfTokenOf(secret: string, offered: string | undefined): boolean {
  if (offered === undefined || offered.length !== 43) return false;
  return timingSafeEqual(Buffer.from(csrfTokenOf(secret)), Buffer.from(offered));
}

/** Gives the session a WebAuthn challenge, which counts for `ttlMs` and once. */
export async function setChallenge(db: Db, sessionId: string, challenge: string, ttlMs: number): Promise<void> {
  await db('sessions')
    .where({ id: sessionId })
    .update({ webauthn_challenge: challenge, webauthn_challenge_expires_at: db.raw(`now() + make_interval(secs => ?)`, [ttlMs / 1000]) });
}

/** Takes the session's challenge (it cannot be used twice); undefined when there is none or it expired. */
export async function takeChallenge(db: Db | Trx, sessionId: string): Promise<string | undefined> {
  const rows = (await db.raw(
    `UPDATE sessions s SET webauthn_challenge = NULL, webauthn_challenge_expires_at = NULL
       FROM (SELECT id, webauthn_challenge, webauthn_challenge_expires_at FROM sessions WHERE id = ? FOR UPDATE) old
      WHERE s.id = old.id
      RETURNING old.webauthn_challenge AS challenge, old.webauthn_challenge_expires_at > now() AS live`,
    [sessionId],
  )) as { rows: { challenge: string | null; live: boolean | null }[] };
  const row = rows.rows[0];
  return row?.challenge && row.live ? row.challenge : undefined;
}

/** Records a passkey assertion on the session: money-moving approvals count it for a few minutes. */
export async function recordStepUp(db: Db | Trx, sessionId: string, passkeyId: string): Promise<Date> {
  const [row] = (await db('sessions')
    .where({ id: sessionId })
    .update({ stepped_up_at: db.fn.now(), step_up_passkey_id: passkeyId })
    .returning('stepped_up_at')) as { stepped_up_at: Date }[];
  return row!.stepped_up_at;
}
