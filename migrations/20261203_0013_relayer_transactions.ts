/**
 * One sender for every relayer transaction (flushes, statement anchors): a persisted queue, the
 * nonce the sender gives each, every signed version (a stuck transaction is replaced with higher
 * fees at the same nonce), and what became of it. The work that asked for a transaction points
 * at it and learns the outcome from it.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('relayer_transactions', (t) => {
    t.text('id').primary(); // rtx_…
    t.integer('chain_id').notNullable();
    t.text('from_address').notNullable();
    t.text('purpose').notNullable(); // flush | anchor
    t.text('to_address').notNullable();
    t.text('data').notNullable();
    // queued: waiting for a nonce; signed: has a nonce and a signed version, maybe not yet broadcast;
    // sent: broadcast, waiting to be mined; mined / reverted: final; failed: never sent (it would revert) or its nonce went to another transaction.
    t.text('status').notNullable();
    t.bigInteger('nonce');
    t.bigInteger('gas_limit');
    t.specificType('max_fee_per_gas', 'numeric(78,0)');
    t.specificType('max_priority_fee_per_gas', 'numeric(78,0)');
    t.text('raw_transaction'); // the latest signed version (public once broadcast)
    t.text('tx_hash'); // the latest version's hash, or the one mined
    t.jsonb('tx_hashes').notNullable().defaultTo('[]'); // every version's hash, oldest first
    t.integer('replacements').notNullable().defaultTo(0);
    t.bigInteger('block_number');
    t.bigInteger('gas_used');
    t.text('last_error');
    t.timestamp('sent_at', { useTz: true, precision: 3 });
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['status', 'created_at']);
  });
  await knex.raw(`
    ALTER TABLE relayer_transactions
      ADD CONSTRAINT relayer_transactions_status CHECK (status IN ('queued', 'signed', 'sent', 'mined', 'reverted', 'failed')),
      ADD CONSTRAINT relayer_transactions_purpose CHECK (purpose IN ('flush', 'anchor')),
      ADD CONSTRAINT relayer_transactions_signed_has_nonce CHECK (status IN ('queued', 'failed') OR (nonce IS NOT NULL AND raw_transaction IS NOT NULL AND tx_hash IS NOT NULL))
  `);
  // One transaction in flight per nonce of a sender, held by the database: two senders can never
  // both use one. (A mined one may share its nonce with a later one: a reorg can give it back.)
  await knex.raw(
    `CREATE UNIQUE INDEX relayer_transactions_one_per_nonce ON relayer_transactions (chain_id, from_address, nonce) WHERE status IN ('signed', 'sent')`,
  );
  await knex.schema.alterTable('flush_requests', (t) => {
    t.text('relayer_tx_id').references('relayer_transactions.id');
  });
  await knex.schema.alterTable('statements', (t) => {
    t.text('anchor_relayer_tx_id').references('relayer_transactions.id');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('statements', (t) => t.dropColumn('anchor_relayer_tx_id'));
  await knex.schema.alterTable('flush_requests', (t) => t.dropColumn('relayer_tx_id'));
  await knex.schema.dropTable('relayer_transactions');
}
