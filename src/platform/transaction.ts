/**
 * Explicit transaction boundaries: a service method takes the `trx` it runs in.
 */
import type { Db, Trx } from './db.js';

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

/**
 * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
 * Calls to the outside world (RPC, webhooks) do not belong inside `work`; the outbox carries them.
 *
 * @example
 * const invoice = await withTransaction(db, (trx) => createInvoice(trx, params));
 */
export async function withTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>, isolationLevel?: IsolationLevel): Promise<T> {
  return db.transaction(work, isolationLevel === undefined ? undefined : { isolationLevel });
}
