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

/**
 * Runs `work` (JavaScript, no queries) while `statement` runs in the database, and returns its
 * result once both are done: the database and the process work at once, with one statement in
 * flight on the transaction's connection as ever. `work` starts once the statement has been
 * sent (it leaves after a few promise hops); an error of either is thrown once both have ended.
 */
export async function whileRunning<T>(statement: Promise<unknown>, work: () => T): Promise<T> {
  // Marked handled now: a statement that fails while `work` runs is reported below, not as an unhandled rejection.
  statement.catch(() => undefined);
  await new Promise((resolve) => setImmediate(resolve));
  let outcome: { value: T } | { error: unknown };
  try {
    outcome = { value: work() };
  } catch (error) {
    outcome = { error };
  }
  await statement;
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}
