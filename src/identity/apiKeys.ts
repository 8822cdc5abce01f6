/**
 * API keys for clinic systems: a practice-management system calls the API with
 * `Authorization: Bearer cpk_live_…` instead of a JWT from an identity provider. A key belongs
 * to one clinic and carries one role (`clinic_staff` to bill, `auditor` to read). It is shown
 * once, when it is created, and kept only as its SHA-256: 32 random bytes need no slow hash.
 * Every request looks the key up, so a revoked or expired key is refused on the next request,
 * on every gateway instance. `last_used_at` is written at most once a minute per key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';
import { AuthenticationError } from './errors.js';
import { type ClinicScope, type Principal, type Role, scopeQuery } from './principal.js';

export const API_KEY_ROLES = ['clinic_staff', 'auditor'] as const satisfies readonly Role[];
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];
/** `live` keys for production, `test` keys everywhere else: a key says where it belongs. */
export type ApiKeyMode = 'live' | 'test';

const KEY_PATTERN = /^cpk_(live|test)_[A-Za-z0-9_-]{43}$/;
/** How stale `last_used_at` may be before a request writes it again. */
const LAST_USED_RESOLUTION_SECONDS = 60;

export interface ApiKeyRow {
  id: string;
  clinic_id: string;
  name: string;
  role: ApiKeyRole;
  secret_hash: string;
  hint: string;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

/** Whether a bearer token is an API key rather than a JWT. */
export function isApiKey(token: string): boolean {
  return token.startsWith('cpk_');
}

function hashOf(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export interface CreateApiKeyParameters {
  clinicId: string;
  name: string;
  role: ApiKeyRole;
  expiresAt: Date | undefined;
  mode: ApiKeyMode;
  createdBy: string;
}

/** Creates a key and audits it (never the secret); returns the row and the secret, this once. */
export async function createApiKey(trx: Trx, actor: AuditActor, params: CreateApiKeyParameters): Promise<{ row: ApiKeyRow; secret: string }> {
  const secret = `cpk_${params.mode}_${randomBytes(32).toString('base64url')}`;
  const [row] = (await trx('api_keys')
    .insert({
      id: newId('key'),
      clinic_id: params.clinicId,
      name: params.name,
      role: params.role,
      secret_hash: hashOf(secret),
      hint: `cpk_${params.mode}_…${secret.slice(-4)}`,
      created_by: params.createdBy,
      expires_at: params.expiresAt ?? null,
    })
    .returning('*')) as ApiKeyRow[];
  await appendAudit(trx, actor, [
    {
      action: 'api_key.created',
      target: { type: 'api_key', id: row!.id },
      clinicId: row!.clinic_id,
      after: { name: row!.name, role: row!.role, hint: row!.hint, expires_at: row!.expires_at?.toISOString() ?? null },
    },
  ]);
  return { row: row!, secret };
}

/** Revokes a key in `scope` (again: nothing changes) and audits it; {@link NotFoundError} outside the scope. */
export async function revokeApiKey(trx: Trx, actor: AuditActor, scope: ClinicScope, id: string, revokedBy: string): Promise<ApiKeyRow> {
  const row = (await scopeQuery(trx('api_keys').where({ id }), scope).forUpdate().first()) as ApiKeyRow | undefined;
  if (!row) throw new NotFoundError('API key');
  if (row.revoked_at !== null) return row;
  const [revoked] = (await trx('api_keys').where({ id }).update({ revoked_at: trx.fn.now(), revoked_by: revokedBy }).returning('*')) as ApiKeyRow[];
  await appendAudit(trx, actor, [
    { action: 'api_key.revoked', target: { type: 'api_key', id }, clinicId: row.clinic_id, after: { name: row.name, hint: row.hint } },
  ]);
  return revoked!;
}

/** One page of the keys in `scope`, newest first (revoked ones included, marked). */
export function listApiKeys(db: Db, scope: ClinicScope, page: PageRequest): Promise<Page<ApiKeyRow>> {
  return keysetPage<ApiKeyRow>(scopeQuery(db('api_keys'), scope), page, scopeQuery(db('api_keys'), scope));
}

/**
 * The principal an API key stands for; an unknown, malformed, revoked or expired key is a 401,
 * with one message for all, so a guess learns nothing.
 */
export async function verifyApiKey(db: Db, secret: string, now = new Date()): Promise<Principal> {
  const refused = () => new AuthenticationError('invalid_token', 'The API key is unknown, revoked or expired.');
  if (!KEY_PATTERN.test(secret)) throw refused();
  const row = (await db('api_keys')
    .where({ secret_hash: hashOf(secret) })
    .first()) as ApiKeyRow | undefined;
  if (!row || row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) throw refused();
  await db('api_keys')
    .where({ id: row.id })
    .where((query) => query.whereNull('last_used_at').orWhere('last_used_at', '<', db.raw(`now() - make_interval(secs => ?)`, [LAST_USED_RESOLUTION_SECONDS])))
    .update({ last_used_at: db.fn.now() });
  return { sub: `api_key:${row.id}`, role: row.role, clinicId: row.clinic_id, method: 'api_key' };
}

/** The API form of a key: never its secret or hash. */
export function presentApiKey(row: ApiKeyRow): Record<string, unknown> {
  return {
    object: 'api_key',
    id: row.id,
    clinic_id: row.clinic_id,
    name: row.name,
    role: row.role,
    hint: row.hint,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}
