/**
 * What a transfer was in each earlier generation. A transfer orphaned by a reorg and mined again
 * comes back as the same row (same transaction hash and log index) with one more generation, and
 * with what its log says now: another block, and perhaps another amount (a forward that ran
 * again against a balance that had grown). The entries posted for an earlier generation, and
 * their reversals, still describe that generation: statements show each entry's transfer as it
 * was when the entry was posted, which is what an auditor checks the amounts against.
 *
 * The database keeps the history itself: before a transfer's generation changes, its row as it
 * was is copied here (append-only). Transfers that came back before this migration have none.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE transfer_generations (
      transfer_id text NOT NULL REFERENCES transfers(id),
      generation integer NOT NULL,
      block_number bigint NOT NULL,
      block_hash text NOT NULL,
      block_timestamp timestamptz(3) NOT NULL,
      token_address text NOT NULL,
      from_address text NOT NULL,
      to_address text NOT NULL,
      amount numeric(78,0) NOT NULL,
      kind text NOT NULL,
      replaced_at timestamptz(3) NOT NULL DEFAULT now(),
      PRIMARY KEY (transfer_id, generation)
    );
    CREATE FUNCTION transfers_keep_generation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.generation IS DISTINCT FROM OLD.generation THEN
        INSERT INTO transfer_generations (transfer_id, generation, block_number, block_hash, block_timestamp, token_address, from_address, to_address, amount, kind)
        VALUES (OLD.id, OLD.generation, OLD.block_number, OLD.block_hash, OLD.block_timestamp, OLD.token_address, OLD.from_address, OLD.to_address, OLD.amount, OLD.kind)
        ON CONFLICT DO NOTHING;
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER transfers_keep_generation BEFORE UPDATE OF generation ON transfers
      FOR EACH ROW EXECUTE FUNCTION transfers_keep_generation();
    CREATE TRIGGER transfer_generations_append_only BEFORE UPDATE OR DELETE ON transfer_generations
      FOR EACH ROW EXECUTE FUNCTION forbid_mutation();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER transfers_keep_generation ON transfers;
    DROP FUNCTION transfers_keep_generation();
    DROP TABLE transfer_generations;
  `);
}
