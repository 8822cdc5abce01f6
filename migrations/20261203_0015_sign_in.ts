/**
 * People sign in: server-side sessions, memberships (who may sign in, with which role and
 * clinic, when the identity provider does not say), passkeys for step-up, and how each audited
 * action was authenticated.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sessions', (t) => {
    t.text('id').primary(); // ses_…
    t.text('secret_hash').notNullable().unique(); // SHA-256 of the cookie's secret, hex; the secret itself is never stored
    t.text('issuer').notNullable(); // the identity provider that signed the person in
    t.text('sub').notNullable();
    t.text('role').notNullable();
    t.text('clinic_id').references('clinics.id');
    t.text('email');
    t.text('name');
    t.text('id_token_sealed'); // for RP-initiated logout (id_token_hint), sealed with SECRETS_KEYS
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true, precision: 3 }).notNullable(); // absolute lifetime
    t.timestamp('ended_at', { useTz: true, precision: 3 });
    t.text('ended_reason');
    // The WebAuthn challenge this session was last given, and when it stops counting.
    t.text('webauthn_challenge');
    t.timestamp('webauthn_challenge_expires_at', { useTz: true, precision: 3 });
    // The last passkey assertion (step-up) of this session.
    t.timestamp('stepped_up_at', { useTz: true, precision: 3 });
    t.text('step_up_passkey_id');
    t.index(['sub']);
    t.index(['expires_at']);
  });
  await knex.raw(`
    ALTER TABLE sessions
      ADD CONSTRAINT sessions_role CHECK (role IN ('platform_admin', 'clinic_admin', 'clinic_staff', 'finance', 'auditor')),
      ADD CONSTRAINT sessions_secret_hash CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
      ADD CONSTRAINT sessions_ended CHECK ((ended_at IS NULL) = (ended_reason IS NULL))
  `);

  await knex.schema.createTable('memberships', (t) => {
    t.text('id').primary(); // mem_…
    t.text('email').notNullable(); // lower case
    t.text('role').notNullable();
    t.text('clinic_id').references('clinics.id');
    t.text('invited_by').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    // Bound on first sign-in: from then on the membership is this subject's, whatever its e-mail becomes.
    t.text('issuer');
    t.text('sub');
    t.timestamp('accepted_at', { useTz: true, precision: 3 });
    t.timestamp('revoked_at', { useTz: true, precision: 3 });
    t.text('revoked_by');
  });
  await knex.raw(`
    ALTER TABLE memberships
      ADD CONSTRAINT memberships_role CHECK (role IN ('platform_admin', 'clinic_admin', 'clinic_staff', 'finance', 'auditor')),
      ADD CONSTRAINT memberships_email CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 254),
      ADD CONSTRAINT memberships_clinic CHECK (role NOT IN ('clinic_admin', 'clinic_staff') OR clinic_id IS NOT NULL),
      ADD CONSTRAINT memberships_platform CHECK (role <> 'platform_admin' OR clinic_id IS NULL),
      ADD CONSTRAINT memberships_accepted CHECK ((accepted_at IS NULL) = (sub IS NULL) AND (sub IS NULL) = (issuer IS NULL)),
      ADD CONSTRAINT memberships_revoked CHECK ((revoked_at IS NULL) = (revoked_by IS NULL));
    -- One live membership per e-mail address and per person.
    CREATE UNIQUE INDEX memberships_live_email ON memberships (email) WHERE revoked_at IS NULL;
    CREATE UNIQUE INDEX memberships_live_sub ON memberships (issuer, sub) WHERE revoked_at IS NULL AND sub IS NOT NULL;
  `);

  await knex.schema.createTable('passkeys', (t) => {
    t.text('id').primary(); // pk_…
    t.text('issuer').notNullable();
    t.text('sub').notNullable();
    t.text('credential_id').notNullable().unique(); // base64url
    t.binary('public_key').notNullable(); // COSE
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.specificType('transports', 'text[]').notNullable().defaultTo('{}');
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_used_at', { useTz: true, precision: 3 });
    t.index(['issuer', 'sub']);
  });

  // How the actor of each audited action authenticated (method, and the step-up that allowed it).
  // Older rows have none; the row's hash covers it when present.
  await knex.schema.alterTable('audit_log', (t) => {
    t.jsonb('auth');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_log', (t) => {
    t.dropColumn('auth');
  });
  await knex.schema.dropTable('passkeys');
  await knex.schema.dropTable('memberships');
  await knex.schema.dropTable('sessions');
}
