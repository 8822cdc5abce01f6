/**
 * Full sweeps: a reconciliation run normally compares the balances of the deposit addresses its
 * range touched and of those the ledger says hold tokens; a full sweep compares every deposit
 * address of the chain, to find tokens that reached an address the gateway had no reason to
 * look at. The scheduler makes one every RECON_FULL_SWEEP_DAYS; finance may ask for one.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE reconciliation_runs ADD COLUMN full_sweep boolean NOT NULL DEFAULT false`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE reconciliation_runs DROP COLUMN full_sweep`);
}
