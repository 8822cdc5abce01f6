/**
 * Payments held pending screening: their payer could not be screened when they were posted (the
 * sanctions oracle did not answer). Each pass asks the oracle again, at each payment's block:
 * clear, the hold is released and the deposit forwarded; listed, it becomes a hold of a listed
 * payer for two finance people to decide; still no answer, it waits. Nothing is released
 * unscreened.
 */
import type { Address } from 'viem';
import { SYSTEM } from '../audit/auditLog.js';
import type { ChainClient } from '../chain/client.js';
import { pendingScreeningHolds, settlePendingHold } from '../compliance/holds.js';
import { screenPayers } from '../compliance/screening.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/log.js';
import { withTransaction } from '../platform/transaction.js';
import { requestFlush } from './invoiceEffects.js';
import { paymentTransfer } from './transfers.js';
import { askOracle } from './watcher.js';

export interface PendingScreeningDeps {
  db: Db;
  chain: ChainClient;
  logger: Logger;
  /** The oracle to ask; without one (taken out of the configuration), the lists alone decide. */
  sanctionsOracle: Address | null | undefined;
}

/** One pass over the payments held pending screening. */
export async function rescreenPending(deps: PendingScreeningDeps): Promise<{ cleared: number; listed: number; waiting: number }> {
  const result = { cleared: 0, listed: 0, waiting: 0 };
  for (const hold of await pendingScreeningHolds(deps.db)) {
    const payment = await paymentTransfer(deps.db, hold.transfer_id);
    if (payment?.status !== 'confirmed') continue;
    const oracle = deps.sanctionsOracle ? await askOracle(deps.chain, deps.sanctionsOracle, payment.from_address, BigInt(payment.block_number)) : undefined;
    if (oracle && oracle.answer === null) {
      result.waiting += 1;
      continue;
    }
    await withTransaction(deps.db, async (trx) => {
      const verdicts = await screenPayers(trx, [{ transferId: payment.id, generation: payment.generation, address: payment.from_address, oracle }]);
      const hits = verdicts.get(payment.id)?.hits ?? [];
      const settled = await settlePendingHold(trx, SYSTEM.watcher, hold.id, hits);
      if (settled.status === 'released') {
        await requestFlush(trx, hold.invoice_id);
        result.cleared += 1;
      } else if (settled.reason === 'screening_hit') {
        result.listed += 1;
      }
    });
  }
  if (result.cleared + result.listed > 0) deps.logger.info(result, 'payments held pending screening were screened');
  if (result.waiting > 0) deps.logger.warn({ waiting: result.waiting }, 'payments are held pending screening: the sanctions oracle does not answer');
  return result;
}
