/**
 * identity/ — who is calling: the principal (subject, role, clinic) that every request becomes,
 * how API bearer tokens are verified, and which clinic's data a caller may read.
 *
 * Owns tables: token_revocations, api_keys.
 * May import: platform, domain, audit.
 */
import type { Knex } from 'knex';
export const ROLES = ['platform_admin', 'clinic_admin', 'clinic_staff', 'finance', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

/** Roles that always belong to one clinic and must carry a `clinic_id` claim. */
export const CLINIC_ROLES: readonly Role[] = ['clinic_admin', 'clinic_staff'];

/** The authenticated caller, from a verified token. */
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
