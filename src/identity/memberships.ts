/**
 * Memberships: who may sign in, with which role and clinic, when the identity provider does not
 * say it in its claims. A platform admin invites an e-mail address; the first person who signs
 * in with that address, verified by the identity provider, becomes the membership's subject, and
 * from then on it is theirs whatever their address becomes. Revoking a membership ends the
 * person's sessions.
 */
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';
import { CLINIC_ROLES, type ClinicScope, type Role, scopeQuery } from './principal.js';
import { sessionActor } from './sessions.js';

export interface MembershipRow {
  id: string;
  email: string;
  role: Role;
  clinic_id: string | null;
  invited_by: string;
  created_at: Date;
  issuer: string | null;
  sub: string | null;
  accepted_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

/** Checks a role and clinic go together: clinic roles name a clinic, a platform admin none. */
export function checkRoleAndClinic(role: Role, clinicId: string | null): void {
  if (CLINIC_ROLES.includes(role) && clinicId === null) throw new ValidationError(`A ${role} belongs to one clinic: name it ("clinic_id").`, 'clinic_id');
  if (role === 'platform_admin' && clinicId !== null) throw new ValidationError('A platform_admin belongs to no clinic.', 'clinic_id');
}

/** Invites `email` with a role (and clinic); an address that has a live membership already is refused (400). */
export async function createMembership(
  trx: Trx,
  actor: AuditActor,
  params: { email: string; role: Role; clinicId: string | null; invitedBy: string },
): Promise<MembershipRow> {
  checkRoleAndClinic(params.role, params.clinicId);
  const email = params.email.trim().toLowerCase();
  const existing = await trx('memberships').where({ email }).whereNull('revoked_at').first('id');
  if (existing) throw new ValidationError(`${email} already has a membership; revoke it first to change it.`, 'email');
  const [row] = (await trx('memberships')
    .insert({ id: newId('mem'), email, role: params.role, clinic_id: params.clinicId, invited_by: params.invitedBy })
    .returning('*')) as MembershipRow[];
  await appendAudit(trx, actor, [
    { action: 'membership.created', target: { type: 'membership', id: row!.id }, clinicId: row!.clinic_id, after: { role: row!.role } },
  ]);
  return row!;
}

/** Revokes a membership in `scope` and ends its person's sessions; again: nothing changes. */
export async function revokeMembership(trx: Trx, actor: AuditActor, scope: ClinicScope, id: string): Promise<MembershipRow> {
  const row = (await scopeQuery(trx('memberships').where({ id }), scope).forUpdate().first()) as MembershipRow | undefined;
  if (!row) throw new NotFoundError('membership');
  if (row.revoked_at !== null) return row;
  const [revoked] = (await trx('memberships').where({ id }).update({ revoked_at: trx.fn.now(), revoked_by: actor.actor }).returning('*')) as MembershipRow[];
  if (row.sub !== null) {
    await trx('sessions')
      .where({ issuer: row.issuer, sub: row.sub })
      .whereNull('ended_at')
      .update({ ended_at: trx.fn.now(), ended_reason: 'membership_revoked' });
  }
  await appendAudit(trx, actor, [{ action: 'membership.revoked', target: { type: 'membership', id }, clinicId: row.clinic_id, before: { role: row.role } }]);
  return revoked!;
}

/** A page of memberships in `scope`, newest first (revoked ones included, marked). */
export function listMemberships(db: Db, scope: ClinicScope, page: PageRequest): Promise<Page<MembershipRow>> {
  return keysetPage<MembershipRow>(scopeQuery(db('memberships'), scope), page, scopeQuery(db('memberships'), scope));
}

/**
 * The live membership of the person `issuer`/`sub`: theirs already, or the invitation of their
 * e-mail address (when the provider verified it), which becomes theirs now (audited).
 */
export async function claimMembership(
  trx: Trx,
  person: { issuer: string; sub: string; email: string | null; emailVerified: boolean },
  requestId: string | null,
): Promise<MembershipRow | undefined> {
  const own = (await trx('memberships').where({ issuer: person.issuer, sub: person.sub }).whereNull('revoked_at').first()) as MembershipRow | undefined;
  if (own) return own;
  if (person.email === null || !person.emailVerified) return undefined;
  const [claimed] = (await trx('memberships')
    .where({ email: person.email.toLowerCase() })
    .whereNull('revoked_at')
    .whereNull('sub')
    .update({ issuer: person.issuer, sub: person.sub, accepted_at: trx.fn.now() })
    .returning('*')) as MembershipRow[];
  if (!claimed) return undefined;
  await appendAudit(trx, sessionActor({ sub: person.sub, role: claimed.role }, requestId), [
    { action: 'membership.accepted', target: { type: 'membership', id: claimed.id }, clinicId: claimed.clinic_id, after: { role: claimed.role } },
  ]);
  return claimed;
}

/** The API form of a membership. */
export function presentMembership(row: MembershipRow): Record<string, unknown> {
  return {
    object: 'membership',
    id: row.id,
    email: row.email,
    role: row.role,
    clinic_id: row.clinic_id,
    invited_by: row.invited_by,
    created_at: row.created_at.toISOString(),
    sub: row.sub,
    accepted_at: row.accepted_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}
