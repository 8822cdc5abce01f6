/**
 * The chain watcher's cursor: the highest block whose logs are stored, per chain.
 */
import type { Db, Trx } from '../platform/db.js';

/** The watcher's cursor: the highest block whose logs are stored. */
export async function readCursor(db: Db | Trx, chainId: number): Promise<bigint | undefined> {
  const row = (await db('chain_cursors').where({ chain_id: chainId }).first('last_block')) as { last_block: string } | undefined;
  return row ? BigInt(row.last_block) : undefined;
}

/** Sets the cursor where none exists yet (the gateway's first start): logs before it are never read. */
export async function initCursor(db: Db, chainId: number, block: bigint): Promise<void> {
  await db('chain_cursors').insert({ chain_id: chainId, last_block: block.toString() }).onConflict('chain_id').ignore();
}

/** Moves the cursor, inside the transaction that stored what was read up to it. */
export async function writeCursor(trx: Trx, chainId: number, block: bigint): Promise<void> {
  await trx('chain_cursors')
    .insert({ chain_id: chainId, last_block: block.toString() })
    .onConflict('chain_id')
    .merge({ last_block: block.toString(), updated_at: trx.fn.now() });
}
