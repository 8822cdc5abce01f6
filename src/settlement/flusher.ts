/**
 * The flusher: sweeps deposit addresses to their clinics with batched `flushMany` calls, paid
 * for by the relayer key (which only ever pays gas; it cannot send customer funds anywhere).
 *
 * Work arrives through `flush_requests`, written in the same transaction that confirmed the
 * payment. A request is claimed (`sent`), the transaction is sent and awaited outside any
 * database transaction, and the outcome recorded. A failed or reverted flush is retried with
 * backoff up to a limit and then marked `failed`, never dropped. A crash while a flush is in
 * flight leaves it `sent`; after a lease it is retried, which is safe: flushing an address
 * twice forwards nothing the second time.
 */

import type { Address, Hex } from 'viem';
import { type AuditEvent, type AuditSummary, appendAudit, SYSTEM } from '../audit/auditLog.js';
import type { ChainClient } from '../chain/client.js';
import { apiAddress } from '../domain/address.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/log.js';
import { errorSummary } from '../platform/log.js';
import type { FlusherMetrics } from '../platform/metrics.js';
import { withTransaction } from '../platform/transaction.js';
import { flushDeposits, MAX_FLUSH_BATCH, type SendingWallet } from './depositFactory.js';

export interface FlusherDeps {
  db: Db;
  chain: ChainClient;
  relayer: SendingWallet;
  factory: Address;
  token: Address;
  logger: Logger;
  batchSize?: number;
  maxAttempts?: number;
  metrics?: FlusherMetrics;
}

export interface FlushResult {
  flushed: number;
  retried: number;
  failed: number;
}

/** A claimed flush that has not been resolved within this is taken to have died with its process. */
const SENT_LEASE_SECONDS = 300;

/** Seconds before retry `attempt` (1-based): 15 s, 30 s, 60 s … capped at 30 min. */
export function flushBackoffSeconds(attempt: number): number {
  return Math.min(15 * 2 ** (attempt - 1), 1800);
}

interface ClaimedFlush {
  clinic_id: string;
  invoice_id: string;
  attempts: number;
  settlement_address: string;
  deposit_salt: Hex;
}

/** One batch: claim due requests, send one `flushMany`, record the outcome. */
function flushAudit(row: ClaimedFlush, action: string, after: AuditSummary): AuditEvent {
  return { action, target: { type: 'invoice', id: row.invoice_id }, clinicId: row.clinic_id, before: { status: 'sent' }, after };
}

export async function flushOnce(deps: FlusherDeps): Promise<FlushResult> {
  const batchSize = Math.min(deps.batchSize ?? 50, MAX_FLUSH_BATCH);
  const maxAttempts = deps.maxAttempts ?? 5;
  const claimed = await withTransaction(deps.db, async (trx) => {
    await trx('flush_requests')
      .where({ status: 'sent' })
      .where('updated_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [SENT_LEASE_SECONDS]))
      .update({ status: 'pending', updated_at: trx.fn.now() });
    const due = (await trx('flush_requests')
      .join('invoices', 'invoices.id', 'flush_requests.invoice_id')
      .where('flush_requests.status', 'pending')
      .where('flush_requests.next_attempt_at', '<=', trx.fn.now())
      .orderBy('flush_requests.created_at')
      .limit(batchSize)
      .forUpdate('flush_requests')
      .skipLocked()
      .select(
        'flush_requests.invoice_id',
        'flush_requests.attempts',
        'invoices.clinic_id',
        'invoices.settlement_address',
        'invoices.deposit_salt',
      )) as ClaimedFlush[];
    if (due.length > 0) {
      await trx('flush_requests')
        .whereIn(
          'invoice_id',
          due.map((row) => row.invoice_id),
        )
        .update({ status: 'sent', attempts: trx.raw('attempts + 1'), updated_at: trx.fn.now() });
    }
    return due;
  });
  if (claimed.length === 0) return { flushed: 0, retried: 0, failed: 0 };

  const ids = claimed.map((row) => row.invoice_id);
  let txHash: Hex | undefined;
  let failure: string | undefined;
  try {
    const receipt = await flushDeposits({
      wallet: deps.relayer,
      publicClient: deps.chain,
      factory: deps.factory,
      token: deps.token,
      deposits: claimed.map((row) => ({ destination: apiAddress(row.settlement_address), salt: row.deposit_salt })),
    });
    txHash = receipt.transactionHash;
    if (receipt.status !== 'success') failure = `flushMany reverted in ${receipt.transactionHash}`;
  } catch (error) {
    failure = errorSummary(error).message;
  }

  if (failure === undefined) {
    await withTransaction(deps.db, async (trx) => {
      await trx('flush_requests')
        .whereIn('invoice_id', ids)
        .update({ status: 'done', tx_hash: txHash!.toLowerCase(), last_error: null, updated_at: trx.fn.now() });
      await appendAudit(
        trx,
        SYSTEM.flusher,
        claimed.map((row) => flushAudit(row, 'flush.sent', { status: 'done', tx_hash: txHash!.toLowerCase() })),
      );
    });
    deps.metrics?.flush('success', ids.length);
    deps.logger.info({ deposits: ids.length, tx_hash: txHash }, 'flushed deposits');
    return { flushed: ids.length, retried: 0, failed: 0 };
  }

  let retried = 0;
  let failed = 0;
  await withTransaction(deps.db, async (trx) => {
    for (const row of claimed) {
      const attempt = row.attempts + 1;
      const exhausted = attempt >= maxAttempts;
      await trx('flush_requests')
        .where({ invoice_id: row.invoice_id })
        .update({
          status: exhausted ? 'failed' : 'pending',
          last_error: failure,
          tx_hash: txHash?.toLowerCase() ?? null,
          next_attempt_at: trx.raw(`now() + make_interval(secs => ?)`, [flushBackoffSeconds(attempt)]),
          updated_at: trx.fn.now(),
        });
      if (exhausted) failed += 1;
      else retried += 1;
    }
    await appendAudit(
      trx,
      SYSTEM.flusher,
      claimed.map((row) => {
        const exhausted = row.attempts + 1 >= maxAttempts;
        return flushAudit(row, exhausted ? 'flush.failed' : 'flush.attempt_failed', {
          status: exhausted ? 'failed' : 'pending',
          attempt: row.attempts + 1,
          error: failure ?? null,
        });
      }),
    );
  });
  if (retried) deps.metrics?.flush('retry', retried);
  if (failed) deps.metrics?.flush('failed', failed);
  deps.logger.warn({ deposits: ids.length, retried, failed, error: failure }, 'flush failed');
  return { flushed: 0, retried, failed };
}
