/**
 * Audit: the hash-chained audit log, recorded statements (with their on-chain anchors), and the
 * confirmations each transfer had when it was posted (statements report them).
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_log', (t) => {
    // Position in the chain, given by the database when the row is chained (see audit_chain_row).
    t.bigInteger('seq').primary();
    t.text('id').notNullable().unique(); // aud_…
    t.timestamp('occurred_at', { useTz: true, precision: 3 }).notNullable();
    t.text('actor').notNullable(); // JWT sub, or system:<worker>
    t.text('role').notNullable();
    t.text('action').notNullable(); // e.g. invoice.created
    t.text('target_type').notNullable();
    t.text('target_id').notNullable();
    t.text('clinic_id');
    t.text('request_id');
    t.jsonb('before');
    t.jsonb('after');
    // The exact text hashed: RFC 8785 JSON of every column above except seq.
    t.text('canonical').notNullable();
    // Each hash is the predecessor of at most one row: the chain cannot fork.
    t.text('prev_hash').notNullable().unique();
    t.text('row_hash').notNullable();
    t.index(['clinic_id', 'seq']);
    t.index(['target_id']);
  });

  // The chain's head. Writers take its row lock to append, so appends are serialised (in commit
  // order) and every row names the one committed before it.
  await knex.schema.createTable('audit_head', (t) => {
    t.boolean('singleton').primary().defaultTo(true);
    t.bigInteger('seq').notNullable();
    t.text('row_hash').notNullable();
  });
  await knex.raw(`ALTER TABLE audit_head ADD CONSTRAINT audit_head_one_row CHECK (singleton)`);
  await knex.raw(`INSERT INTO audit_head (singleton, seq, row_hash) VALUES (true, 0, repeat('0', 64))`);
  await knex.raw(`
    CREATE FUNCTION audit_chain_row() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      head audit_head%ROWTYPE;
    BEGIN
      SELECT * INTO head FROM audit_head WHERE singleton FOR UPDATE;
      NEW.seq := head.seq + 1;
      NEW.prev_hash := head.row_hash;
      NEW.row_hash := encode(sha256(decode(head.row_hash, 'hex') || convert_to(NEW.canonical, 'UTF8')), 'hex');
      UPDATE audit_head SET seq = NEW.seq, row_hash = NEW.row_hash WHERE singleton;
      RETURN NEW;
    END
    $$;
    CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_chain_row();
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION forbid_mutation();
    CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION forbid_mutation();
  `);

  await knex.schema.createTable('statements', (t) => {
    t.text('id').primary(); // stmt_…
    t.text('clinic_id').notNullable().references('clinics.id');
    t.text('asset').notNullable();
    t.timestamp('period_from', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('period_to', { useTz: true, precision: 3 }).notNullable();
    t.timestamp('generated_at', { useTz: true, precision: 3 }).notNullable();
    t.text('generated_by').notNullable();
    t.integer('line_count');
    t.text('merkle_root');
    t.bigInteger('audit_head_seq');
    t.text('audit_head_hash');
    t.integer('anchor_chain_id');
    t.text('anchor_tx_hash');
    t.bigInteger('anchor_block_number');
    t.text('anchor_from_address');
    t.index(['clinic_id', 'generated_at']);
  });
  await knex.raw(`ALTER TABLE statements ADD CONSTRAINT statements_period CHECK (period_from < period_to)`);

  await knex.schema.alterTable('transfers', (t) => {
    t.integer('confirmations');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('transfers', (t) => {
    t.dropColumn('confirmations');
  });
  await knex.schema.dropTable('statements');
  await knex.schema.dropTable('audit_log');
  await knex.raw('DROP FUNCTION audit_chain_row()');
  await knex.schema.dropTable('audit_head');
}
