/**
 * The demo clinic and ready-made tokens of the dev stack, so that `npm start` can be tried at
 * once: `curl -H "Authorization: Bearer $(jq -r .tokens.clinic_admin .data/dev-stack.json)" …`.
 */
import type { Address } from 'viem';
import { SYSTEM } from '../audit/auditLog.js';
import { createClinic } from '../billing/clinics.js';
import { API_KEY_ROLES, type ApiKeyRole, createApiKey, revokeApiKey } from '../identity/apiKeys.js';
import { signHs256Token } from '../identity/jwt.js';
import { ROLES, type Role } from '../identity/principal.js';
import type { Db } from '../platform/db.js';
import type { SecretBox } from '../platform/secretBox.js';
import { withTransaction } from '../platform/transaction.js';

export const DEMO_CLINIC_NAME = 'ClinicPay Demo Clinic';
/** The name the dev stack gives its API keys (one per API-key role), so that a start finds the last start's. */
const DEV_API_KEY_NAME = (role: ApiKeyRole) => `Dev stack (${role})`;
const DEV_STACK_ACTOR = 'system:dev-stack';

/** Dev tokens are re-issued at every start; a day is the gateway's default maximum token age. */
const DEV_TOKEN_TTL_SECONDS = 86_400;

/** The demo clinic's id, creating the clinic on first start. */
export async function ensureDemoClinic(db: Db, settlementAddress: Address, secrets: SecretBox): Promise<string> {
  const existing = (await db('clinics').where({ name: DEMO_CLINIC_NAME }).orderBy('created_at').first('id')) as { id: string } | undefined;
  if (existing) return existing.id;
  const clinic = await withTransaction(db, (trx) =>
    createClinic(trx, SYSTEM.gateway, { name: DEMO_CLINIC_NAME, settlementAddress, webhookUrl: undefined, secrets }),
  );
  return clinic.id;
}

export interface DevTokensParameters {
  secret: string;
  issuer: string;
  audience: string;
  demoClinicId: string;
}

/** One token per role; clinic roles for the demo clinic, finance and auditor across clinics. */
export function devTokens({ secret, issuer, audience, demoClinicId }: DevTokensParameters): Record<Role, string> {
  const confined: readonly Role[] = ['clinic_admin', 'clinic_staff'];
  return Object.fromEntries(
    ROLES.map((role) => [
      role,
      signHs256Token({
        secret,
        issuer,
        audience,
        role,
        sub: `dev-${role.replace('_', '-')}`,
        clinicId: confined.includes(role) ? demoClinicId : undefined,
        ttlSeconds: DEV_TOKEN_TTL_SECONDS,
      }),
    ]),
  ) as Record<Role, string>;
}

/**
 * One API key per API-key role for the demo clinic, as a clinic's own system would use them
 * (`cpk_test_…`). Like the tokens they are issued afresh at every start: the gateway keeps only
 * a key's hash, so the last start's keys are revoked and new ones written to `dev-stack.json`.
 */
export async function devApiKeys(db: Db, demoClinicId: string): Promise<Record<ApiKeyRole, string>> {
  return withTransaction(db, async (trx) => {
    const scope = { clinicId: demoClinicId };
    const earlier = (await trx('api_keys').where({ clinic_id: demoClinicId, created_by: DEV_STACK_ACTOR, revoked_at: null }).select('id')) as { id: string }[];
    for (const { id } of earlier) await revokeApiKey(trx, SYSTEM.gateway, scope, id, DEV_STACK_ACTOR);
    const keys: Partial<Record<ApiKeyRole, string>> = {};
    for (const role of API_KEY_ROLES) {
      const created = await createApiKey(trx, SYSTEM.gateway, {
        clinicId: demoClinicId,
        name: DEV_API_KEY_NAME(role),
        role,
        expiresAt: undefined,
        mode: 'test',
        createdBy: DEV_STACK_ACTOR,
      });
      keys[role] = created.secret;
    }
    return keys as Record<ApiKeyRole, string>;
  });
}
