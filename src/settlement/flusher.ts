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
import { flushDeposits, MAX_FLUSH_BATCH, type SendingWallet, simulateFlush } from './depositFactory.js';

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

  // One flushMany for the batch. If it fails, each deposit is tried alone by simulation: the
  // ones that would go through are sent again together, so one bad item (a destination the
  // token refuses, say) does not hold back, or use up the retries of, the others.
  const first = await sendFlush(deps, claimed);
  if (first.failure === undefined) return record(deps, maxAttempts, [{ rows: claimed, ...first }]);
  if (claimed.length === 1) return record(deps, maxAttempts, [{ rows: claimed, ...first }]);
  const verdicts = await Promise.all(claimed.map((row) => wouldFlushAlone(deps, row)));
  const good = claimed.filter((_, index) => verdicts[index] === undefined);
  const bad = claimed.flatMap((row, index) => (verdicts[index] === undefined ? [] : [{ rows: [row], failure: verdicts[index], txHash: undefined }]));
  const retry = good.length > 0 ? [{ rows: good, ...(await sendFlush(deps, good)) }] : [];
  return record(deps, maxAttempts, [...retry, ...bad]);
}

interface FlushOutcome {
  /** Why it failed; undefined when the deposits were swept. */
  failure: string | undefined;
  txHash: Hex | undefined;
}

/** Sends one flushMany for `rows` and waits for its receipt. */
async function sendFlush(deps: FlusherDeps, rows: readonly ClaimedFlush[]): Promise<FlushOutcome> {
  try {
    const receipt = await flushDeposits({
      wallet: deps.relayer,
      publicClient: deps.chain,
      factory: deps.factory,
      token: deps.token,
      deposits: rows.map((row) => ({ destination: apiAddress(row.settlement_address), salt: row.deposit_salt })),
    });
    return { txHash: receipt.transactionHash, failure: receipt.status === 'success' ? undefined : `flushMany reverted in ${receipt.transactionHash}` };
  } catch (error) {
    return { txHash: undefined, failure: errorSummary(error).message };
  }
}

/** Whether one deposit would flush on its own now (an eth_call); the reason when it would not. */
async function wouldFlushAlone(deps: FlusherDeps, row: ClaimedFlush): Promise<string | undefined> {
  try {
    await simulateFlush({
      publicClient: deps.chain,
      account: deps.relayer.account,
      factory: deps.factory,
      token: deps.token,
      deposit: { destination: apiAddress(row.settlement_address), salt: row.deposit_salt },
    });
    return undefined;
  } catch (error) {
    return errorSummary(error).message;
  }
}

/** Writes what became of each group of claimed deposits: done, or pending again with backoff, or failed for good. */
async function record(deps: FlusherDeps, maxAttempts: number, groups: readonly (FlushOutcome & { rows: readonly ClaimedFlush[] })[]): Promise<FlushResult> {
  const result: FlushResult = { flushed: 0, retried: 0, failed: 0 };
  await withTransaction(deps.db, async (trx) => {
    const audit: AuditEvent[] = [];
    for (const { rows, failure, txHash } of groups) {
      if (failure === undefined) {
        await trx('flush_requests')
          .whereIn(
            'invoice_id',
            rows.map((row) => row.invoice_id),
          )
          .update({ status: 'done', tx_hash: txHash!.toLowerCase(), last_error: null, updated_at: trx.fn.now() });
        audit.push(...rows.map((row) => flushAudit(row, 'flush.sent', { status: 'done', tx_hash: txHash!.toLowerCase() })));
        result.flushed += rows.length;
        continue;
      }
      for (const row of rows) {
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
        audit.push(flushAudit(row, exhausted ? 'flush.failed' : 'flush.attempt_failed', { status: exhausted ? 'failed' : 'pending', attempt, error: failure }));
        if (exhausted) result.failed += 1;
        else result.retried += 1;
      }
    }
    await appendAudit(trx, SYSTEM.flusher, audit);
  });
  if (result.flushed) {
    deps.metrics?.flush('success', result.flushed);
    deps.logger.info({ deposits: result.flushed, tx_hash: groups.find((group) => group.failure === undefined)?.txHash }, 'flushed deposits');
  }
  if (result.retried) deps.metrics?.flush('retry', result.retried);
  if (result.failed) deps.metrics?.flush('failed', result.failed);
  if (result.retried || result.failed) {
    deps.logger.warn(
      { retried: result.retried, failed: result.failed, errors: [...new Set(groups.flatMap((group) => (group.failure ? [group.failure] : [])))] },
      'flush failed',
    );
  }
  return result;
}
