/**
 * The flusher: sweeps deposit addresses to their clinics with batched `flushMany` calls, paid
 * for by the relayer key (which only ever pays gas; it cannot send customer funds anywhere).
 *
 * Work arrives through `flush_requests`, written in the same transaction that confirmed the
 * payment. One pass ({@link flushOnce}):
 * 1. **Records outcomes.** Requests whose relayer transaction is over become `done` (mined), or
 *    `pending` again with backoff (reverted, or never sent), or `failed` after the last attempt:
 *    never dropped.
 * 2. **Claims** due requests (`sent`) and checks the batch by simulation. If the batch would
 *    revert, each deposit is simulated alone: the ones that would go through stay in the batch,
 *    so one bad item (a destination the token refuses, say) does not hold back, or use up the
 *    retries of, the others.
 * 3. **Queues** one `flushMany` with the relayer sender (settlement/relayer.ts), which alone
 *    signs, sends, replaces and follows relayer transactions. Nothing here waits for the chain.
 *
 * A claim that never got its transaction queued (a crash in between) is taken back after a lease.
 * Flushing an address twice is safe: the second forwards nothing.
 */

import { type Address, encodeFunctionData, erc20Abi, getAddress, type Hex, type LocalAccount } from 'viem';
import { depositFactoryAbi } from '../../contracts/artifacts/DepositFactory.js';
import { type AuditEvent, type AuditSummary, appendAudit, SYSTEM } from '../audit/auditLog.js';
import type { ChainClient } from '../chain/client.js';
import { frozenAddresses } from '../compliance/freezes.js';
import { heldInvoiceIds } from '../compliance/holds.js';
import { apiAddress } from '../domain/address.js';
import { assetOf, invoiceDepositAssets } from '../ledger/ledger.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/log.js';
import { errorSummary } from '../platform/log.js';
import type { FlusherMetrics } from '../platform/metrics.js';
import { withTransaction } from '../platform/transaction.js';
import { type Deposit, MAX_FLUSH_BATCH, simulateFlush } from './depositFactory.js';
import { enqueueRelayerTransaction, isSettled, relayerTransactions } from './relayer.js';

export interface FlusherDeps {
  db: Db;
  chain: ChainClient;
  chainId: number;
  /** The relayer's account: flushes are simulated as it, and queued for it to send. */
  relayer: Pick<LocalAccount, 'address'>;
  factory: Address;
  /** The pricing token. */
  token: Address;
  /** Every accepted token; default: `token` alone. A deposit holding several is swept one token per pass. */
  tokens?: readonly Address[];
  logger: Logger;
  batchSize?: number;
  maxAttempts?: number;
  metrics?: FlusherMetrics;
}

export interface FlushResult {
  /** Deposits whose flush was mined in this pass. */
  flushed: number;
  /** Deposits queued for sending in this pass. */
  queued: number;
  retried: number;
  failed: number;
}

/** A claim whose transaction was never queued within this is taken to have died with its process. */
const CLAIM_LEASE_SECONDS = 300;

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
  relayer_tx_id?: string | null;
  /** The token to sweep: chosen when an earlier sweep of another left this one behind, or retried. */
  token_address?: string | null;
}

function flushAudit(row: ClaimedFlush, action: string, after: AuditSummary): AuditEvent {
  return { action, target: { type: 'invoice', id: row.invoice_id }, clinicId: row.clinic_id, before: { status: 'sent' }, after };
}

/** The call data of `flushMany` for these deposits. */
export function flushManyCalldata(token: Address, deposits: readonly Deposit[]): Hex {
  return encodeFunctionData({
    abi: depositFactoryAbi,
    functionName: 'flushMany',
    args: [token, deposits.map((deposit) => deposit.destination), deposits.map((deposit) => deposit.salt)],
  });
}

function depositOf(row: ClaimedFlush): Deposit {
  return { destination: apiAddress(row.settlement_address), salt: row.deposit_salt };
}

export async function flushOnce(deps: FlusherDeps): Promise<FlushResult> {
  const maxAttempts = deps.maxAttempts ?? 5;
  const result: FlushResult = { flushed: 0, queued: 0, retried: 0, failed: 0 };
  await recordOutcomes(deps, maxAttempts, result);

  const batchSize = Math.min(deps.batchSize ?? 50, MAX_FLUSH_BATCH);
  const claimed = await withTransaction(deps.db, async (trx) => {
    await trx('flush_requests')
      .where({ status: 'sent' })
      .whereNull('relayer_tx_id')
      .where('updated_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [CLAIM_LEASE_SECONDS]))
      .update({ status: 'pending', updated_at: trx.fn.now() });
    const due = (await trx('flush_requests')
      .join('invoices', 'invoices.id', 'flush_requests.invoice_id')
      .where('flush_requests.status', 'pending')
      .where('flush_requests.next_attempt_at', '<=', trx.fn.now())
      // A held payment's deposit stays where it is until two finance people release it.
      .whereNotIn('flush_requests.invoice_id', heldInvoiceIds(trx))
      // Nothing is sent from or to an address an issuer froze (it would revert, and use up retries).
      .whereNotIn('invoices.settlement_address', frozenAddresses(trx))
      .whereNotIn('invoices.deposit_address', frozenAddresses(trx))
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
        'flush_requests.token_address',
      )) as ClaimedFlush[];
    if (due.length > 0) {
      await trx('flush_requests')
        .whereIn(
          'invoice_id',
          due.map((row) => row.invoice_id),
        )
        .update({ status: 'sent', attempts: trx.raw('attempts + 1'), relayer_tx_id: null, updated_at: trx.fn.now() });
    }
    return due;
  });
  if (claimed.length === 0) return report(deps, result);

  // One flushMany per token: a deposit holding several accepted tokens is swept one token per
  // pass, and the forward's confirmation asks for the next sweep while anything is left.
  const tokenOf = await tokensToSweep(deps, claimed);
  const byToken = new Map<Address, ClaimedFlush[]>();
  for (const row of claimed) {
    const token = row.token_address ? getAddress(row.token_address) : (tokenOf.get(row.invoice_id) ?? deps.token);
    byToken.set(token, [...(byToken.get(token) ?? []), row]);
  }
  for (const [token, rows] of byToken) await queueFlushes(deps, token, rows, maxAttempts, result);
  return report(deps, result);
}

/**
 * The token each deposit is swept of now: the first accepted token (in allow-list order) its
 * ledger balance holds; a deposit with nothing on the books is swept of the pricing token (a
 * flush of an empty deposit forwards nothing).
 */
async function tokensToSweep(deps: FlusherDeps, rows: readonly Pick<ClaimedFlush, 'invoice_id'>[]): Promise<Map<string, Address>> {
  const tokens = deps.tokens ?? [deps.token];
  if (tokens.length === 1) return new Map(rows.map((row) => [row.invoice_id, tokens[0]!]));
  const held = await invoiceDepositAssets(
    deps.db,
    rows.map((row) => row.invoice_id),
  );
  const chosen = new Map<string, Address>();
  for (const row of rows) {
    const assets = held.get(row.invoice_id) ?? new Set<string>();
    const token = tokens.find((candidate) => assets.has(assetOf(deps.chainId, candidate)));
    if (token) chosen.set(row.invoice_id, token);
  }
  return chosen;
}

/**
 * After a sweep was mined: the next accepted token each deposit still holds, for those whose
 * books hold more than one. The books lag the chain (a forward counts once it is final), so
 * the chain's balance now decides; a deposit holding only what was just swept has none.
 */
async function leftBehind(deps: FlusherDeps, swept: readonly (ClaimedFlush & { deposit_address: string })[]): Promise<Map<string, Address>> {
  const tokens = deps.tokens ?? [deps.token];
  if (tokens.length === 1 || swept.length === 0) return new Map();
  const held = await invoiceDepositAssets(
    deps.db,
    swept.map((row) => row.invoice_id),
  );
  const next = new Map<string, Address>();
  for (const row of swept) {
    const assets = held.get(row.invoice_id) ?? new Set<string>();
    const sweptToken = (row.token_address ?? deps.token).toLowerCase();
    for (const token of tokens) {
      if (token.toLowerCase() === sweptToken || !assets.has(assetOf(deps.chainId, token))) continue;
      const balance = await deps.chain.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [getAddress(row.deposit_address)] });
      if (balance > 0n) {
        next.set(row.invoice_id, token);
        break;
      }
    }
  }
  return next;
}

/** Simulates, then queues one `flushMany` of `token` for the deposits that would go through; records the others' failures. */
async function queueFlushes(deps: FlusherDeps, token: Address, claimed: readonly ClaimedFlush[], maxAttempts: number, result: FlushResult): Promise<void> {
  // The batch as a call first; if it would revert, each deposit alone, and only the good ones go.
  let good: readonly ClaimedFlush[] = claimed;
  let bad: { row: ClaimedFlush; failure: string }[] = [];
  if ((await wouldFlush(deps, token, claimed)) !== undefined) {
    const verdicts = await Promise.all(claimed.map((row) => wouldFlush(deps, token, [row])));
    good = claimed.filter((_, index) => verdicts[index] === undefined);
    bad = claimed.flatMap((row, index) => (verdicts[index] === undefined ? [] : [{ row, failure: verdicts[index]! }]));
  }
  await withTransaction(deps.db, async (trx) => {
    if (good.length > 0) {
      const transaction = await enqueueRelayerTransaction(trx, {
        chainId: deps.chainId,
        from: deps.relayer.address,
        purpose: 'flush',
        to: deps.factory,
        data: flushManyCalldata(token, good.map(depositOf)),
      });
      await trx('flush_requests')
        .whereIn(
          'invoice_id',
          good.map((row) => row.invoice_id),
        )
        .update({ relayer_tx_id: transaction.id, token_address: token.toLowerCase(), updated_at: trx.fn.now() });
      result.queued += good.length;
    }
    const audit: AuditEvent[] = [];
    for (const { row, failure } of bad) audit.push(await recordFailure(trx, maxAttempts, row, failure, undefined, result));
    await appendAudit(trx, SYSTEM.flusher, audit);
  });
}

/** Whether `flushMany` of these deposits would go through now (an eth_call); the reason when it would not. */
async function wouldFlush(deps: FlusherDeps, token: Address, rows: readonly ClaimedFlush[]): Promise<string | undefined> {
  try {
    if (rows.length === 1) {
      await simulateFlush({ publicClient: deps.chain, account: deps.relayer.address, factory: deps.factory, token, deposit: depositOf(rows[0]!) });
    } else {
      await deps.chain.call({ account: deps.relayer.address, to: deps.factory, data: flushManyCalldata(token, rows.map(depositOf)) });
    }
    return undefined;
  } catch (error) {
    return errorSummary(error).message;
  }
}

/** Turns the relayer's verdicts on queued flushes into done, retried or failed requests. */
async function recordOutcomes(deps: FlusherDeps, maxAttempts: number, result: FlushResult): Promise<void> {
  const waiting = (await deps
    .db('flush_requests')
    .join('invoices', 'invoices.id', 'flush_requests.invoice_id')
    .where('flush_requests.status', 'sent')
    .whereNotNull('flush_requests.relayer_tx_id')
    .select(
      'flush_requests.invoice_id',
      'flush_requests.attempts',
      'flush_requests.relayer_tx_id',
      'flush_requests.token_address',
      'invoices.clinic_id',
      'invoices.settlement_address',
      'invoices.deposit_salt',
      'invoices.deposit_address',
    )) as (ClaimedFlush & { relayer_tx_id: string; deposit_address: string })[];
  if (waiting.length === 0) return;
  const transactions = await relayerTransactions(
    deps.db,
    waiting.map((row) => row.relayer_tx_id),
  );
  const over = waiting.filter((row) => isSettled(transactions.get(row.relayer_tx_id)!));
  if (over.length === 0) return;
  await withTransaction(deps.db, async (trx) => {
    // Only those still waiting on the same transaction: another pass may have recorded some.
    const still = new Set(
      (
        (await trx('flush_requests')
          .whereIn(
            'invoice_id',
            over.map((row) => row.invoice_id),
          )
          .where({ status: 'sent' })
          .forUpdate()
          .select('invoice_id', 'relayer_tx_id')) as { invoice_id: string; relayer_tx_id: string }[]
      ).map((row) => `${row.invoice_id}|${row.relayer_tx_id}`),
    );
    const audit: AuditEvent[] = [];
    const done = new Map<string, (ClaimedFlush & { deposit_address: string })[]>();
    for (const row of over.filter((candidate) => still.has(`${candidate.invoice_id}|${candidate.relayer_tx_id}`))) {
      const transaction = transactions.get(row.relayer_tx_id)!;
      if (transaction.status === 'mined') {
        const txHash = transaction.tx_hash!.toLowerCase();
        done.set(txHash, [...(done.get(txHash) ?? []), row]);
        audit.push(flushAudit(row, 'flush.sent', { status: 'done', tx_hash: txHash }));
      } else {
        audit.push(await recordFailure(trx, maxAttempts, row, transaction.last_error ?? transaction.status, transaction.tx_hash ?? undefined, result));
      }
    }
    // A deposit that holds another accepted token on the books is swept again, of that token,
    // without waiting for this forward to be final (its confirmation may come first or later).
    const next = await leftBehind(deps, [...done.values()].flat());
    for (const [invoiceId, token] of next) {
      await trx('flush_requests').where({ invoice_id: invoiceId }).update({
        status: 'pending',
        attempts: 0,
        token_address: token.toLowerCase(),
        relayer_tx_id: null,
        next_attempt_at: trx.fn.now(),
        updated_at: trx.fn.now(),
      });
    }
    for (const [txHash, all] of done) {
      const rows = all.filter((row) => !next.has(row.invoice_id));
      await trx('flush_requests')
        .whereIn(
          'invoice_id',
          rows.map((row) => row.invoice_id),
        )
        .update({ status: 'done', tx_hash: txHash, last_error: null, updated_at: trx.fn.now() });
      result.flushed += all.length;
    }
    await appendAudit(trx, SYSTEM.flusher, audit);
  });
}

/** A request that did not go through: pending again with backoff, or failed after its last attempt. */
async function recordFailure(
  trx: import('../platform/db.js').Trx,
  maxAttempts: number,
  row: ClaimedFlush,
  failure: string,
  txHash: string | undefined,
  result: FlushResult,
): Promise<AuditEvent> {
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
  if (exhausted) result.failed += 1;
  else result.retried += 1;
  return flushAudit(row, exhausted ? 'flush.failed' : 'flush.attempt_failed', { status: exhausted ? 'failed' : 'pending', attempt, error: failure });
}

function report(deps: FlusherDeps, result: FlushResult): FlushResult {
  if (result.flushed) {
    deps.metrics?.flush('success', result.flushed);
    deps.logger.info({ deposits: result.flushed }, 'flushed deposits');
  }
  if (result.retried) deps.metrics?.flush('retry', result.retried);
  if (result.failed) deps.metrics?.flush('failed', result.failed);
  if (result.retried || result.failed) deps.logger.warn({ retried: result.retried, failed: result.failed }, 'flush failed');
  return result;
}
