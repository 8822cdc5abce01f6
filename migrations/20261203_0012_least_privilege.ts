/**
 * What the gateway's least-privileged database role needs and may not do for itself (see
 * `grantAppRole` in src/platform/migrate.ts, which grants the rest):
 *
 * - Creating a clinic creates its invoice-number sequence. The app role has no CREATE on the
 *   schema, so it asks this function, which runs as the owner, makes only a sequence with the
 *   expected name, and lets the caller use it.
 * - The audit chainer moves `audit_head`, which the app role may only read: it runs as the owner,
 *   so the app can append to the chain but never set its head.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION create_invoice_number_sequence(sequence_name text) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF sequence_name !~ '^invoice_numbers_[0-9a-f]{24}$' THEN
        RAISE EXCEPTION 'not an invoice number sequence: %', sequence_name USING ERRCODE = '22023';
      END IF;
      EXECUTE format('CREATE SEQUENCE %I AS integer MINVALUE 1', sequence_name);
      EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %I TO %I', sequence_name, session_user);
    END
    $$;
    REVOKE ALL ON FUNCTION create_invoice_number_sequence(text) FROM PUBLIC;
    ALTER FUNCTION audit_chain_row() SECURITY DEFINER;
    ALTER FUNCTION audit_chain_row() SET search_path = public, pg_temp;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER FUNCTION audit_chain_row() RESET search_path;
    ALTER FUNCTION audit_chain_row() SECURITY INVOKER;
    DROP FUNCTION create_invoice_number_sequence(text);
  `);
}
