/**
 * The chain watcher's cursors, per chain: the highest block whose logs are stored (read at least
 * once), and the highest block whose logs were read while the block was final (nothing above it
 * is posted). A block read before it was final is read again once it is.
 */
import type { Db, Trx } from '../platform/db.js';

export interface Cursors {
  /** The highest block whose logs are stored. */
  read: bigint;
  /** The highest block whose logs were read while it was final; never above `read`. */
  verified: bigint;
}

/** The watcher's cursor: the highest block whose logs are stored. */
export async function readCursor(db: Db | Trx, chainId: number): Promise<bigint | undefined> {
  return (await readCursors(db, chainId))?.read;
}

/** Both cursors; `undefined` before the watcher's first start. */
export async function readCursors(db: Db | Trx, chainId: number): Promise<Cursors | undefined> {
  const row = (await db('chain_cursors').where({ chain_id: chainId }).first('last_block', 'verified_block')) as
    | { last_block: string; verified_block: string | null }
    | undefined;
  if (!row) return undefined;
  const read = BigInt(row.last_block);
  // A cursor written without the second one is verified as far as it has read.
  const verified = row.verified_block === null ? read : BigInt(row.verified_block);
  return { read, verified: verified < read ? verified : read };
}

/** Sets the cursor where none exists yet (the gateway's first start): logs before it are never read. */
export async function initCursor(db: Db, chainId: number, block: bigint): Promise<void> {
  await db('chain_cursors').insert({ chain_id: chainId, last_block: block.toString(), verified_block: block.toString() }).onConflict('chain_id').ignore();
}

/**
 * Moves the cursors, inside the transaction that stored what was read up to them: `read` alone
 * (blocks read before they were final), `verified` alone (read again once final), or both (read
 * while final). `back`: a reorg takes the read cursor back to its fork point, and the verified
 * one there too if it was above.
 */
export async function writeCursor(trx: Trx, chainId: number, block: bigint, which: 'read' | 'verified' | 'both' | 'back' = 'both'): Promise<void> {
  const value = block.toString();
  const verified = 'COALESCE(chain_cursors.verified_block, chain_cursors.last_block)';
  const set =
    which === 'read'
      ? { last_block: value, verified_block: trx.raw(verified) }
      : which === 'verified'
        ? { verified_block: value }
        : which === 'back'
          ? { last_block: value, verified_block: trx.raw(`LEAST(${verified}, ?::bigint)`, [value]) }
          : { last_block: value, verified_block: value };
  await trx('chain_cursors')
    .insert({ chain_id: chainId, last_block: value, verified_block: value })
    .onConflict('chain_id')
    .merge({ ...set, updated_at: trx.fn.now() });
}
