/**
 * Who may act, and on which clinic's data.
 */
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
}

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/**
 * Whether `principal` may see data of `clinicId`. Callers answer 404, not 403, when it may not:
 * another clinic's records must not even be confirmed to exist.
 */
export function canSeeClinic(principal: Principal, clinicId: string): boolean {
  return principal.clinicId === undefined || principal.clinicId === clinicId;
}
