/**
 * Which clinic's data a request may read: the one helper every route uses to confine a caller
 * (see identity/principal.ts for the rule). A clinic's users see their own clinic only;
 * platform admins, and finance and auditors issued without a clinic, see every clinic.
 */
import type { Response } from 'express';
import { type ClinicScope, inScope } from '../identity/principal.js';
import { NotFoundError } from '../platform/errors.js';
import { principalOf } from './auth.js';

/** The caller's own scope, for reading one record by id. */
export function scopeOf(res: Response): ClinicScope {
  return { clinicId: principalOf(res).clinicId };
}

/**
 * The scope of a list: the caller's own, narrowed to the clinic it asks for (`clinic_id`).
 * `undefined` when a confined caller asks for another clinic: the list is empty, never an
 * error, so the answer confirms nothing about that clinic.
 */
export function listScopeOf(res: Response, requestedClinicId: string | undefined): ClinicScope | undefined {
  const own = scopeOf(res);
  if (requestedClinicId === undefined) return own;
  return inScope(own, requestedClinicId) ? { clinicId: requestedClinicId } : undefined;
}

/** Refuses (404, as for an unknown id) a clinic outside the caller's scope. */
export function requireClinicInScope(res: Response, clinicId: string): void {
  if (!inScope(scopeOf(res), clinicId)) throw new NotFoundError('clinic');
}
