/**
 * identity/ — who is calling: the principal (subject, role, clinic) that every request becomes,
 * how API bearer tokens and keys are verified, people's sessions (OpenID Connect sign-in,
 * memberships, passkey step-up), and which clinic's data a caller may read.
 *
 * Owns tables: token_revocations, api_keys, sessions, memberships, passkeys.
 * May import: platform, domain, audit.
 */
import type { Knex } from 'knex';
export const ROLES = ['platform_admin', 'clinic_admin', 'clinic_staff', 'finance', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Roles that always belong to one clinic and must carry a `clinic_id` claim. */
export const CLINIC_ROLES: readonly Role[] = ['clinic_admin', 'clinic_staff'];

/** How a caller proved who it is: a signed-in person's session, a JWT, or a clinic's API key. */
export type AuthMethod = 'session' | 'jwt' | 'api_key';

/** What a session adds to its principal: which session, and its last passkey step-up. */
export interface SessionFacts {
  id: string;
  /** The identity provider that signed the person in. */
  issuer: string;
  steppedUpAt: Date | null;
  stepUpPasskeyId: string | null;
}

/** The authenticated caller, from a verified token, API key or session: one shape, one set of rules. */
export interface Principal {
  /** The person or system (JWT `sub`): two finance users are told apart by it. */
  sub: string;
  role: Role;
  /**
   * The one clinic the caller is confined to; `undefined` means all clinics (platform_admin,
   * and finance or auditor tokens issued without a clinic).
   */
  clinicId: string | undefined;
  /** The token's `jti`, when it has one: what revoking one token names. */
  tokenId?: string | undefined;
  /** The token's `iat`: revoking a subject refuses its tokens issued up to then. */
  issuedAt?: Date | undefined;
  method: AuthMethod;
  /** Present when `method` is `session`. */
  session?: SessionFacts | undefined;
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/**
 * The clinics a read may touch: one clinic, or every clinic (`clinicId` undefined). A principal
 * is its own scope; a list request may narrow it to the clinic it asks for (http/scope.ts).
 * Outside its scope a record does not exist: callers answer 404, never 403, so another clinic's
 * ids are not even confirmed.
 */
export interface ClinicScope {
  clinicId: string | undefined;
}

/** Whether a record of `clinicId` (null: of no clinic, visible only to unconfined callers) is in `scope`. */
export function inScope(scope: ClinicScope, clinicId: string | null): boolean {
  return scope.clinicId === undefined || scope.clinicId === clinicId;
}

/** Confines `query` to `scope` by its `column`: the one way a read is scoped in SQL. */
export function scopeQuery<Q extends Knex.QueryBuilder>(query: Q, scope: ClinicScope, column = 'clinic_id'): Q {
  if (scope.clinicId !== undefined) query.where(column, scope.clinicId);
  return query;
}
