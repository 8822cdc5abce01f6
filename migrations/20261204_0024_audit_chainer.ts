/**
 * Audit chaining off the request path. Writers no longer append to the chain: they add their
 * events to `audit_inbox` in their own transaction, which takes no shared lock, and
 * `audit_chain_pending(n)` moves up to n of them, oldest first, onto the chain (`audit_log`,
 * whose trigger still gives each row its position and hashes under the head's row lock).
 *
 * - Gap-free and fork-free as before: positions and hashes are still given by `audit_chain_row`
 *   under the head's lock, and `prev_hash` stays unique.
 * - Nothing lost or doubled: the move is one statement (DELETE … RETURNING feeding the INSERT),
 *   so a chainer that dies mid-batch leaves every event in the inbox, and an event id is unique
 *   in both tables.
 * - One chainer at a time: the function takes the head's row lock before it reads the inbox, so
 *   a second caller waits, then sees what the first left (and nothing it moved).
 * - The gateway's role may add to the inbox and read it, never change or remove an event there,
 *   and may no longer insert into `audit_log` itself: only the owner's function moves events
 *   onto the chain (see grantAppRole in src/platform/migrate.ts).
 */
import type { Knex } from 'knex';

const COLUMNS = 'id, occurred_at, actor, role, action, target_type, target_id, clinic_id, request_id, before, after, auth, canonical';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE audit_inbox (
      position bigserial PRIMARY KEY,
      id text NOT NULL UNIQUE,
      occurred_at timestamptz(3) NOT NULL,
      actor text NOT NULL,
      role text NOT NULL,
      action text NOT NULL,
      target_type text NOT NULL,
      target_id text NOT NULL,
      clinic_id text,
      request_id text,
      before jsonb,
      after jsonb,
      auth jsonb,
      canonical text NOT NULL
    );
    CREATE TRIGGER audit_inbox_no_update BEFORE UPDATE ON audit_inbox FOR EACH ROW EXECUTE FUNCTION forbid_mutation();
    CREATE TRIGGER audit_inbox_no_truncate BEFORE TRUNCATE ON audit_inbox FOR EACH STATEMENT EXECUTE FUNCTION forbid_mutation();

    CREATE FUNCTION audit_chain_pending(max_rows integer) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      moved integer;
    BEGIN
      PERFORM 1 FROM audit_head WHERE singleton FOR UPDATE;
      WITH batch AS (
        DELETE FROM audit_inbox
         WHERE position IN (SELECT position FROM audit_inbox ORDER BY position LIMIT max_rows)
        RETURNING *
      )
      INSERT INTO audit_log (seq, ${COLUMNS}, prev_hash, row_hash)
      SELECT 0, ${COLUMNS}, '', '' FROM batch ORDER BY position;
      GET DIAGNOSTICS moved = ROW_COUNT;
      RETURN moved;
    END
    $$;
    REVOKE ALL ON FUNCTION audit_chain_pending(integer) FROM PUBLIC;
  `);
}

export async function down(knex: Knex): Promise<void> {
  // Nothing waiting is lost going back: it is chained first.
  await knex.raw(`SELECT audit_chain_pending(2147483647)`);
  await knex.raw(`DROP FUNCTION audit_chain_pending(integer); DROP TABLE audit_inbox;`);
}
