/**
 * Balance checkpoints: the balance of every ledger account that moved on a day, as of the end of
 * that Hong Kong day, so that a statement or a balance check starts from the last checkpoint
 * before its period instead of summing the clinic's whole history.
 *
 * - `ledger_days_closed`: the days whose checkpoints are written, one row per day (its end, an
 *   instant). Once a day is closed the database refuses a journal entry dated inside it (trigger
 *   `journal_entries_not_in_closed_day`): a checkpoint can never go stale.
 * - `balance_checkpoints`: per account, the balance of its postings whose entries were created
 *   before `as_of`; written only for accounts that moved that day (an account's balance at a
 *   later closed day is its latest checkpoint).
 *
 * Both are append-only. `checkLedgerCheckpoints` (src/ledger/checkpoints.ts) recomputes every
 * checkpoint from the postings and names the first that disagrees.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE ledger_days_closed (
      as_of timestamptz(3) PRIMARY KEY,
      closed_at timestamptz(3) NOT NULL DEFAULT now(),
      accounts integer NOT NULL
    );
    CREATE TABLE balance_checkpoints (
      account_id text NOT NULL REFERENCES ledger_accounts(id),
      as_of timestamptz(3) NOT NULL REFERENCES ledger_days_closed(as_of),
      clinic_id text REFERENCES clinics(id),
      asset text NOT NULL,
      balance numeric(78,0) NOT NULL,
      PRIMARY KEY (account_id, as_of)
    );
    CREATE INDEX balance_checkpoints_clinic ON balance_checkpoints (clinic_id, asset, as_of);
    CREATE TRIGGER ledger_days_closed_append_only BEFORE UPDATE OR DELETE ON ledger_days_closed FOR EACH ROW EXECUTE FUNCTION forbid_mutation();
    CREATE TRIGGER ledger_days_closed_no_truncate BEFORE TRUNCATE ON ledger_days_closed FOR EACH STATEMENT EXECUTE FUNCTION forbid_mutation();
    CREATE TRIGGER balance_checkpoints_append_only BEFORE UPDATE OR DELETE ON balance_checkpoints FOR EACH ROW EXECUTE FUNCTION forbid_mutation();
    CREATE TRIGGER balance_checkpoints_no_truncate BEFORE TRUNCATE ON balance_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION forbid_mutation();

    CREATE FUNCTION refuse_entry_in_closed_day() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      closed timestamptz;
    BEGIN
      SELECT max(as_of) INTO closed FROM ledger_days_closed;
      IF closed IS NOT NULL AND NEW.created_at < closed THEN
        RAISE EXCEPTION 'journal entry % is dated %, inside a day whose balances are checkpointed (closed through %)', NEW.id, NEW.created_at, closed
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END
    $$;
    CREATE TRIGGER journal_entries_not_in_closed_day BEFORE INSERT ON journal_entries FOR EACH ROW EXECUTE FUNCTION refuse_entry_in_closed_day();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER journal_entries_not_in_closed_day ON journal_entries;
    DROP FUNCTION refuse_entry_in_closed_day();
    DROP TABLE balance_checkpoints;
    DROP TABLE ledger_days_closed;
  `);
}
