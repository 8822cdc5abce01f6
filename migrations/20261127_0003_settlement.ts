/**
 * Settlement: what the chain watcher saw (cursor, block hashes, transfers), the double-entry
 * ledger, and the outboxes for relayer flushes and webhooks.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('chain_cursors', (t) => {
    t.integer('chain_id').primary();
    // Highest block whose logs are stored; everything up to it has been read once.
    t.bigInteger('last_block').notNullable();
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });

  // Hashes of processed blocks (the cursor block of every pass, and every block with a transfer
  // of ours): a stored hash that no longer matches the chain is how a reorg is detected.
  await knex.schema.createTable('chain_blocks', (t) => {
    t.integer('chain_id').notNullable();
    t.bigInteger('number').notNullable();
    t.text('hash').notNullable();
    t.timestamp('timestamp', { useTz: true, precision: 3 }).notNullable();
    t.primary(['chain_id', 'number']);
  });

  await knex.schema.createTable('transfers', (t) => {
    t.text('id').primary(); // pay_…
    t.integer('chain_id').notNullable();
    t.text('tx_hash').notNullable();
    t.integer('log_index').notNullable();
    t.bigInteger('block_number').notNullable();
    t.text('block_hash').notNullable();
    t.timestamp('block_timestamp', { useTz: true, precision: 3 }).notNullable();
    t.text('token_address').notNullable();
    t.text('from_address').notNullable();
    t.text('to_address').notNullable();
    t.specificType('amount', 'numeric(78,0)').notNullable();
    // payment: into a deposit address; forward: out of one to the bound clinic (the forwarder);
    // foreign_token: another token into a deposit address (recorded, never credited);
    // unexpected_outflow: out of a deposit address to anyone else (a token issuer's seizure, say).
    t.text('kind').notNullable();
    t.text('invoice_id').notNullable().references('invoices.id');
    t.text('clinic_id').notNullable().references('clinics.id');
    // pending: seen, not final; confirmed: final and posted; reorged: was posted, then orphaned.
    t.text('status').notNullable();
    // How many times the transfer came back after a reorg orphaned it; part of its entries' keys.
    t.integer('generation').notNullable().defaultTo(0);
    // Why a confirmed payment needs a person: late (block time after expiry), void_invoice, after_settled.
    t.text('flag');
    t.timestamp('seen_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('confirmed_at', { useTz: true, precision: 3 });
    t.unique(['chain_id', 'tx_hash', 'log_index']);
    t.index(['invoice_id']);
    t.index(['chain_id', 'status', 'block_number']);
  });
  await knex.raw(`
    ALTER TABLE transfers
      ADD CONSTRAINT transfers_kind_known CHECK (kind IN ('payment', 'forward', 'foreign_token', 'unexpected_outflow')),
      ADD CONSTRAINT transfers_status_known CHECK (status IN ('pending', 'confirmed', 'reorged')),
      ADD CONSTRAINT transfers_amount_nonnegative CHECK (amount >= 0),
      ADD CONSTRAINT transfers_hex CHECK (tx_hash ~ '^0x[0-9a-f]{64}$' AND block_hash ~ '^0x[0-9a-f]{64}$'
        AND from_address ~ '^0x[0-9a-f]{40}$' AND to_address ~ '^0x[0-9a-f]{40}$' AND token_address ~ '^0x[0-9a-f]{40}$')
  `);

  await knex.schema.alterTable('invoices', (t) => {
    t.specificType('token_amount_pending', 'numeric(78,0)').notNullable().defaultTo(0);
    t.timestamp('expired_at', { useTz: true, precision: 3 });
  });

  // The ledger: accounts, entries and postings in base units per asset.
  await knex.schema.createTable('ledger_accounts', (t) => {
    t.text('id').primary(); // e.g. clinic:clin_…:deposits:31337:0xtoken
    t.text('clinic_id').references('clinics.id');
    t.text('kind').notNullable();
    t.text('asset').notNullable(); // <chain_id>:<token address>
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.unique(['clinic_id', 'kind', 'asset']);
  });
  await knex.schema.createTable('journal_entries', (t) => {
    t.text('id').primary(); // je_…
    // What caused the entry; makes posting idempotent (a retried post is a no-op).
    t.text('idempotency_key').notNullable().unique();
    t.text('kind').notNullable();
    t.text('clinic_id').references('clinics.id');
    t.text('invoice_id').references('invoices.id');
    t.text('transfer_id').references('transfers.id');
    t.text('reverses_entry_id').references('journal_entries.id');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['clinic_id', 'created_at', 'id']);
    t.index(['created_at', 'id']);
    // Per-invoice balances (the flusher, reconciliation) read entries by invoice.
    t.index(['invoice_id']);
  });
  await knex.schema.createTable('postings', (t) => {
    t.bigIncrements('id');
    t.text('entry_id').notNullable().references('journal_entries.id');
    t.text('account_id').notNullable().references('ledger_accounts.id');
    t.text('asset').notNullable();
    t.specificType('amount', 'numeric(78,0)').notNullable();
    t.index(['entry_id']);
    t.index(['account_id']);
  });
  await knex.raw(`ALTER TABLE postings ADD CONSTRAINT postings_amount_nonzero CHECK (amount <> 0)`);
  await knex.raw(`
    CREATE FUNCTION check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      unbalanced text;
      posting_count int;
    BEGIN
      SELECT count(*) INTO posting_count FROM postings WHERE entry_id = NEW.id;
      IF posting_count < 2 THEN
        RAISE EXCEPTION 'journal entry % has % postings; it needs at least two', NEW.id, posting_count
          USING ERRCODE = 'check_violation';
      END IF;
      SELECT string_agg(asset || '=' || total::text, ', ') INTO unbalanced FROM (
        SELECT asset, sum(amount) AS total FROM postings WHERE entry_id = NEW.id GROUP BY asset HAVING sum(amount) <> 0
      ) AS sums;
      IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance: %', NEW.id, unbalanced USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END
    $$;
    -- Checked at commit, once every posting of the entry is in.
    CREATE CONSTRAINT TRIGGER journal_entries_balanced AFTER INSERT ON journal_entries
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_entry_balanced();
  `);
  // Postings may join only an entry of their own transaction (checked below), so the balance
  // check of each new entry at commit covers every posting it will ever have.
  await knex.raw(`
    -- An entry is complete when its transaction commits: postings may only join an entry
    -- written by the same transaction, never one committed earlier.
    CREATE FUNCTION postings_same_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (SELECT xmin FROM journal_entries WHERE id = NEW.entry_id) IS DISTINCT FROM pg_current_xact_id()::xid THEN
        RAISE EXCEPTION 'journal entry % was committed earlier: it takes no more postings (post a new entry)', NEW.entry_id
          USING ERRCODE = 'restrict_violation';
      END IF;
      RETURN NEW;
    END
    $$;
    CREATE TRIGGER postings_only_in_new_entries BEFORE INSERT ON postings FOR EACH ROW EXECUTE FUNCTION postings_same_transaction();
  `);
  for (const table of ['journal_entries', 'postings']) {
    await knex.raw(`CREATE TRIGGER ${table}_append_only BEFORE UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION forbid_mutation()`);
    await knex.raw(`CREATE TRIGGER ${table}_no_truncate BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION forbid_mutation()`);
  }

  // Outbox of relayer work: a deposit address to sweep, written with the payment that funded it.
  await knex.schema.createTable('flush_requests', (t) => {
    t.text('invoice_id').primary().references('invoices.id');
    t.text('status').notNullable(); // pending, sent, done, failed
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.text('last_error');
    t.text('tx_hash');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['status', 'next_attempt_at']);
  });
  await knex.raw(`ALTER TABLE flush_requests ADD CONSTRAINT flush_requests_status_known CHECK (status IN ('pending', 'sent', 'done', 'failed'))`);

  // Outbox of webhooks: events written in the same transaction as the change they announce.
  await knex.schema.createTable('webhook_events', (t) => {
    t.text('id').primary(); // evt_…
    t.text('clinic_id').notNullable().references('clinics.id');
    t.text('type').notNullable();
    t.jsonb('payload').notNullable();
    t.text('status').notNullable().defaultTo('pending'); // pending, delivered, failed, skipped
    t.integer('attempts').notNullable().defaultTo(0);
    t.timestamp('next_attempt_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.text('last_error');
    t.timestamp('delivered_at', { useTz: true, precision: 3 });
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['status', 'next_attempt_at']);
    t.index(['clinic_id', 'created_at']);
  });
  await knex.raw(`ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_status_known CHECK (status IN ('pending', 'delivered', 'failed', 'skipped'))`);
  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.bigIncrements('id');
    t.text('event_id').notNullable().references('webhook_events.id');
    t.text('url').notNullable();
    t.integer('attempt').notNullable();
    t.integer('status_code');
    t.text('error');
    t.integer('duration_ms').notNullable();
    t.timestamp('attempted_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['event_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webhook_deliveries');
  await knex.schema.dropTable('webhook_events');
  await knex.schema.dropTable('flush_requests');
  await knex.schema.dropTable('postings');
  await knex.schema.dropTable('journal_entries');
  await knex.raw('DROP FUNCTION postings_same_transaction()');
  await knex.raw('DROP FUNCTION check_entry_balanced()');
  await knex.schema.dropTable('ledger_accounts');
  await knex.schema.alterTable('invoices', (t) => {
    t.dropColumn('token_amount_pending');
    t.dropColumn('expired_at');
  });
  await knex.schema.dropTable('transfers');
  await knex.schema.dropTable('chain_blocks');
  await knex.schema.dropTable('chain_cursors');
}
