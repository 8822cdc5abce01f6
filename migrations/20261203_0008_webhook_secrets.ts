/**
 * Webhook secrets at rest and in rotation.
 *
 * - `webhook_secret` now holds the secret sealed with AES-256-GCM under a key from SECRETS_KEYS
 *   (`v1.<key id>.<…>`). SQL has no key, so this migration cannot seal: the gateway seals every
 *   plain value at start, before it serves (billing/clinics.ts `sealWebhookSecrets`).
 * - `webhook_secret_previous` / `_until`: the secret a rotation replaced, also sealed, with which
 *   deliveries are still signed (a second `v1`) until the overlap ends.
 * - `webhook_include_patient_ref`: whether the clinic's webhooks carry `patient_ref` (off unless
 *   the clinic opts in).
 * - Secrets kept in stored idempotent responses (a clinic's creation, replayable for 48 hours)
 *   are blanked: a replay shows `null`.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clinics', (t) => {
    t.text('webhook_secret_previous');
    t.timestamp('webhook_secret_previous_until', { useTz: true });
    t.boolean('webhook_include_patient_ref').notNullable().defaultTo(false);
  });
  await knex.raw(
    `ALTER TABLE clinics ADD CONSTRAINT clinics_webhook_secret_previous_pair
       CHECK ((webhook_secret_previous IS NULL) = (webhook_secret_previous_until IS NULL))`,
  );
  await knex.raw(
    `UPDATE idempotency_keys
     SET response_body = jsonb_set(response_body::jsonb, '{webhook_secret}', 'null'::jsonb)::text
     WHERE method = 'POST' AND path = '/v1/clinics' AND response_content_type LIKE 'application/json%'
       AND response_status = 201 AND response_body::jsonb ->> 'webhook_secret' IS NOT NULL`,
  );
}

/** Sealed secrets stay sealed (the key is not available here); roll the gateway back only with its keys. */
export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clinics', (t) => {
    t.dropColumn('webhook_include_patient_ref');
    t.dropColumn('webhook_secret_previous_until');
    t.dropColumn('webhook_secret_previous');
  });
}
