/**
 * recon/ — reconciliation: re-reading the chain against the ledger, the exception queue, and
 * resolutions with maker-checker approval (refunds, applications, write-offs).
 *
 * Reconciliation runs: re-read the chain for a block range, independently of what the watcher
 * stored, and compare it with the ledger — every transfer, and at the run's last block the
 * balance of every deposit address the range touched or the ledger says holds tokens, and of
 * every clinic's wallets. Each difference becomes one exception in the queue. Balances are read
 * through Multicall3 in batches where the chain has it at that block, else one call each.
 *
 * A run computes everything first and writes once, in one transaction: an RPC failure midway
 * marks the run failed and leaves no partial exceptions; running the same range again gives
 * the same result and updates, never duplicates, the exceptions it finds (keyed by subject).
 *
 * Owns tables: reconciliation_runs, reconciliation_lines, exceptions, resolutions.
 * May import: platform, domain, audit, identity, chain, ledger, billing, webhooks, settlement, compliance.
 */

import { type Address, getAddress } from 'viem';
import { type AuditActor, appendAudit, SYSTEM } from '../audit/auditLog.js';
import { type BalancePair, type BalanceReading, readBalances } from '../chain/balances.js';
import { firstStoredBlock } from '../chain/blocks.js';
import type { ChainClient } from '../chain/client.js';
import { readCursors } from '../chain/cursor.js';
import { type Finality, finalHead } from '../chain/finality.js';
import { activeFreezes, freezesById } from '../compliance/freezes.js';
import { undecidedHolds } from '../compliance/holds.js';
import { storedAddress } from '../domain/address.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import { assetOf } from '../ledger/ledger.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import type { Logger } from '../platform/log.js';
import { errorSummary } from '../platform/log.js';
import { withTransaction } from '../platform/transaction.js';
import { type DepositTransfer, readDepositTransfers } from '../settlement/depositTransfers.js';
import { ReconciliationNotStartedError, ReconciliationRangeError } from './errors.js';
import { type ExceptionInput, upsertExceptions } from './exceptions.js';

/** The widest range one run may cover. */
export const MAX_RECONCILIATION_RANGE = 1_000_000n;
/** A running run whose heartbeat is older than this died with its process. */
const STALE_RUN_SECONDS = 300;
/** Parallel `eth_getBlockByNumber` calls, for the times of blocks the ledger has none of. */
const BLOCK_CONCURRENCY = 16;

export interface ReconciliationDeps {
  db: Db;
  chain: ChainClient;
  logger: Logger;
  chainId: number;
  /** The pricing token. */
  token: Address;
  /** Every accepted token; default: `token` alone. */
  tokens?: readonly { address: Address }[];
  finality: Finality;
  /** Multicall3, to read balances hundreds to a call; undefined: one `balanceOf` call each. */
  multicall?: Address | undefined;
}

export interface RunRow {
  id: string;
  chain_id: number;
  status: 'running' | 'completed' | 'failed';
  from_block: string;
  to_block: string;
  progress: number;
  counts: Record<string, string | number>;
  error: string | null;
  requested_by: string;
  /** Whether the run compares every deposit address of the chain, not only those of its range and those holding tokens. */
  full_sweep: boolean;
  created_at: Date;
  finished_at: Date | null;
}

/** One transfer a run compared, and how it came out (a row of `reconciliation_lines`). */
export interface ReconciliationLineRow {
  result: 'matched' | 'exception';
  clinic_id: string;
  invoice_id: string;
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_time: Date | null;
  token_address: string;
  from_address: string;
  to_address: string;
  amount: string;
  exception_id: string | null;
}

/** The run, or {@link NotFoundError}. */
export async function getRun(db: Db | Trx, id: string): Promise<RunRow> {
  const run = (await db('reconciliation_runs').where({ id }).first()) as RunRow | undefined;
  if (!run) throw new NotFoundError('reconciliation');
  return run;
}

/** The lines of run `runId` in `scope`, in the order the run wrote them, streamed from a cursor. */
export function streamRunLines(db: Db, runId: string, scope: ClinicScope): AsyncIterable<ReconciliationLineRow> {
  return scopeQuery(db('reconciliation_lines').where({ run_id: runId }), scope)
    .orderBy('id')
    .stream() as AsyncIterable<ReconciliationLineRow>;
}

/** The API form of a run. */
export function presentRun(run: RunRow): Record<string, unknown> {
  return {
    object: 'reconciliation',
    id: run.id,
    status: run.status,
    from_block: Number(run.from_block),
    to_block: Number(run.to_block),
    progress_percent: run.progress,
    counts: run.counts,
    error: run.error,
    requested_by: run.requested_by,
    full_sweep: run.full_sweep,
    created_at: run.created_at.toISOString(),
    finished_at: run.finished_at?.toISOString() ?? null,
  };
}

export interface StartReconciliationParameters {
  fromBlock?: bigint | undefined;
  toBlock?: bigint | undefined;
  requestedBy: string;
  /** Compare every deposit address of the chain (see {@link fullSweepIsDue}). */
  fullSweep?: boolean | undefined;
}

/**
 * Checks the range and records a `running` run. The range defaults to: from where the last
 * completed run ended (or the first block the watcher read) to the last block the watcher has
 * confirmed. A range beyond that is refused: the ledger cannot agree with blocks it may not
 * have posted yet.
 */
export async function startReconciliation(deps: ReconciliationDeps, params: StartReconciliationParameters): Promise<RunRow> {
  const { db, chainId } = deps;
  const head = await deps.chain.getBlockNumber({ cacheTime: 0 });
  // Read while final (the verified cursor): blocks above it may hold logs the watcher has not seen yet.
  const cursor = (await readCursors(db, chainId))?.verified;
  const final = await finalHead(deps.chain, deps.finality, head);
  // What the watcher has posted: read while final, final, and below any transfer still waiting for its pass.
  const oldestPending = (await db('transfers').where({ chain_id: chainId, status: 'pending' }).min('block_number as number').first()) as
    | { number: string | null }
    | undefined;
  const limits = [cursor ?? -1n, final, oldestPending?.number != null ? BigInt(oldestPending.number) - 1n : final];
  const confirmedByWatcher = limits.reduce((min, value) => (value < min ? value : min));

  if (params.toBlock !== undefined && params.toBlock > head) {
    throw new ReconciliationRangeError('range_beyond_head', `to_block ${params.toBlock} is beyond the chain head (${head}).`, 'to_block');
  }
  const toBlock = params.toBlock ?? confirmedByWatcher;
  if (toBlock > confirmedByWatcher) {
    throw new ReconciliationRangeError(
      'range_not_final',
      `Blocks after ${confirmedByWatcher} are not final in the ledger yet; reconcile up to ${confirmedByWatcher}, or wait.`,
      'to_block',
    );
  }
  const fromBlock = params.fromBlock ?? (await defaultFromBlock(db, chainId, toBlock));
  if (params.fromBlock === undefined && fromBlock > toBlock) {
    throw new ReconciliationNotStartedError(
      'nothing_to_reconcile',
      `The last run already covered every block up to ${toBlock} that the watcher has confirmed.`,
    );
  }
  if (fromBlock > toBlock) {
    throw new ValidationError(`from_block ${fromBlock} is after to_block ${toBlock}.`, 'from_block');
  }
  if (toBlock - fromBlock + 1n > MAX_RECONCILIATION_RANGE) {
    throw new ReconciliationRangeError('range_too_large', `A run covers at most ${MAX_RECONCILIATION_RANGE} blocks; split the range.`, 'from_block');
  }

  await db('reconciliation_runs')
    .where({ chain_id: chainId, status: 'running' })
    .where('heartbeat_at', '<', db.raw(`now() - make_interval(secs => ?)`, [STALE_RUN_SECONDS]))
    .update({ status: 'failed', error: 'the process running it stopped', finished_at: db.fn.now() });
  try {
    const [run] = (await db('reconciliation_runs')
      .insert({
        id: newId('rec'),
        chain_id: chainId,
        status: 'running',
        from_block: fromBlock.toString(),
        to_block: toBlock.toString(),
        requested_by: params.requestedBy,
        full_sweep: params.fullSweep ?? false,
      })
      .returning('*')) as RunRow[];
    return run!;
  } catch (error) {
    if ((error as { constraint?: string }).constraint === 'reconciliation_runs_one_running') {
      throw new ReconciliationNotStartedError('reconciliation_running', 'A reconciliation is already running; wait for it to finish.');
    }
    throw error;
  }
}

/** Records a run a person or program asked for, inside `trx`, and audits the request. */
export async function requestReconciliation(
  trx: Trx,
  deps: ReconciliationDeps,
  actor: AuditActor,
  params: Omit<StartReconciliationParameters, 'requestedBy'>,
): Promise<RunRow> {
  const run = await startReconciliation({ ...deps, db: trx }, { ...params, requestedBy: actor.actor });
  await appendAudit(trx, actor, [
    {
      action: 'reconciliation.requested',
      target: { type: 'reconciliation', id: run.id },
      after: { from_block: run.from_block, to_block: run.to_block, status: run.status, full_sweep: run.full_sweep },
    },
  ]);
  return run;
}

/** Whether no completed full sweep started within the last `days` days: the next scheduled run should be one. 0 days: never. */
export async function fullSweepIsDue(db: Db, chainId: number, days: number): Promise<boolean> {
  if (days <= 0) return false;
  const last = (await db('reconciliation_runs')
    .where({ chain_id: chainId, status: 'completed', full_sweep: true })
    .orderBy('created_at', 'desc')
    .first('created_at')) as { created_at: Date } | undefined;
  return !last || Date.now() - last.created_at.getTime() >= days * 86_400_000;
}

/** Whether the last run (of any kind) started longer than `intervalMinutes` ago: a scheduled run is due. */
export async function scheduledRunIsDue(db: Db, chainId: number, intervalMinutes: number): Promise<boolean> {
  const last = (await db('reconciliation_runs').where({ chain_id: chainId }).orderBy('created_at', 'desc').first('created_at')) as
    | { created_at: Date }
    | undefined;
  return !last || Date.now() - last.created_at.getTime() >= intervalMinutes * 60_000;
}

async function defaultFromBlock(db: Db, chainId: number, toBlock: bigint): Promise<bigint> {
  const last = (await db('reconciliation_runs').where({ chain_id: chainId, status: 'completed' }).orderBy('to_block', 'desc').first('to_block')) as
    | { to_block: string }
    | undefined;
  if (last) return BigInt(last.to_block) + 1n;
  return (await firstStoredBlock(db, chainId)) ?? toBlock;
}

interface LedgerTransfer {
  id: string;
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_timestamp: Date;
  kind: 'payment' | 'forward' | 'foreign_token';
  status: string;
  flag: string | null;
  amount: string;
  invoice_id: string;
  clinic_id: string;
  token_address: string;
  from_address: string;
  to_address: string;
  posted: boolean;
}

interface Line {
  result: 'matched' | 'exception';
  transfer: DepositTransfer;
  dedupeKey: string | undefined;
  blockTime: Date | undefined;
}

/** Runs a recorded run to its end: `completed` with counts, or `failed` with the reason. */
export async function executeReconciliation(deps: ReconciliationDeps, runId: string): Promise<RunRow> {
  const { db } = deps;
  const run = (await db('reconciliation_runs').where({ id: runId }).first()) as RunRow;
  try {
    const fromBlock = BigInt(run.from_block);
    const toBlock = BigInt(run.to_block);

    // 1. The chain, re-read in bounded chunks.
    const onChain: DepositTransfer[] = [];
    const range = deps.finality.maxBlockRange;
    for (let start = fromBlock; start <= toBlock; start += range) {
      const end = start + range - 1n < toBlock ? start + range - 1n : toBlock;
      onChain.push(
        ...(await readDepositTransfers({
          db,
          chain: deps.chain,
          chainId: deps.chainId,
          token: deps.token,
          tokens: deps.tokens?.map((token) => token.address),
          fromBlock: start,
          toBlock: end,
        })),
      );
      const progress = Math.floor(Number(((end - fromBlock + 1n) * 80n) / (toBlock - fromBlock + 1n)));
      await db('reconciliation_runs').where({ id: runId }).update({ progress, heartbeat_at: db.fn.now() });
    }

    // 2. The ledger's view of the same range.
    const recorded = (await db('transfers')
      .where({ chain_id: deps.chainId })
      .whereBetween('block_number', [fromBlock.toString(), toBlock.toString()])
      .whereIn('status', ['pending', 'confirmed'])
      .select(
        'transfers.*',
        db.raw('transfers.block_number::text AS block_number'),
        db.raw('transfers.amount::text AS amount'),
        db.raw('EXISTS (SELECT 1 FROM journal_entries e WHERE e.transfer_id = transfers.id AND e.reverses_entry_id IS NULL) AS posted'),
      )) as LedgerTransfer[];
    const recordedByKey = new Map(recorded.map((row) => [`${row.tx_hash}:${row.log_index}`, row]));
    const exceptions: ExceptionInput[] = [];
    const lines: Line[] = [];
    const seen = new Set<string>();
    let matchedAmount = 0n;

    for (const transfer of onChain) {
      const key = `${transfer.txHash.toLowerCase()}:${transfer.logIndex}`;
      seen.add(key);
      const row = recordedByKey.get(key);
      const evidence = transferEvidence(transfer);
      if (transfer.kind === 'foreign_token') {
        const dedupeKey = `unknown_transfer:${key}`;
        exceptions.push({
          ...evidence,
          dedupeKey,
          type: 'unknown_transfer',
          amount: transfer.value,
          details: { reason: 'unexpected_token', recorded: row !== undefined },
        });
        lines.push({ result: 'exception', transfer, dedupeKey, blockTime: row?.block_timestamp });
        continue;
      }
      const credited = row !== undefined && row.status === 'confirmed' && (row.posted || transfer.value === 0n);
      if (!credited) {
        const dedupeKey = `unknown_transfer:${key}`;
        exceptions.push({
          ...evidence,
          dedupeKey,
          type: 'unknown_transfer',
          amount: transfer.value,
          details: { reason: 'not_in_ledger', direction: transfer.kind },
        });
        lines.push({ result: 'exception', transfer, dedupeKey, blockTime: row?.block_timestamp });
        continue;
      }
      const flagged =
        transfer.kind === 'unexpected_outflow'
          ? {
              ...evidence,
              blockTime: row!.block_timestamp,
              dedupeKey: `unknown_transfer:${key}`,
              type: 'unknown_transfer' as const,
              amount: transfer.value,
              details: { reason: 'unexpected_outflow', to: getAddress(transfer.to) },
            }
          : flagException(row!, transfer);
      if (flagged) exceptions.push(flagged);
      if (!flagged) matchedAmount += transfer.value;
      lines.push({ result: flagged ? 'exception' : 'matched', transfer, dedupeKey: flagged?.dedupeKey, blockTime: row!.block_timestamp });
    }
    for (const row of recorded) {
      const key = `${row.tx_hash}:${row.log_index}`;
      if (seen.has(key) || row.status !== 'confirmed') continue;
      exceptions.push({
        dedupeKey: `missing_on_chain:${key}`,
        type: 'missing_on_chain',
        clinicId: row.clinic_id,
        invoiceId: row.invoice_id,
        txHash: row.tx_hash,
        logIndex: row.log_index,
        blockNumber: BigInt(row.block_number),
        blockTime: row.block_timestamp,
        tokenAddress: row.token_address,
        fromAddress: row.from_address,
        amount: BigInt(row.amount),
        details: { kind: row.kind },
      });
    }

    // Block times the ledger does not have (transfers it never recorded), from the chain.
    const untimed = [...new Set(lines.filter((line) => line.blockTime === undefined).map((line) => line.transfer.blockNumber))];
    const times = new Map<bigint, Date>();
    for (let start = 0; start < untimed.length; start += BLOCK_CONCURRENCY) {
      const blocks = await Promise.all(untimed.slice(start, start + BLOCK_CONCURRENCY).map((number) => deps.chain.getBlock({ blockNumber: number })));
      for (const block of blocks) times.set(block.number, new Date(Number(block.timestamp) * 1000));
    }
    for (const line of lines) line.blockTime ??= times.get(line.transfer.blockNumber);
    for (const exception of exceptions) {
      if (exception.blockTime === undefined && exception.blockNumber !== undefined) exception.blockTime = times.get(exception.blockNumber);
    }

    // 3. Invoice states that need finance, for the invoices this range touched.
    const touched = [...new Set([...onChain.map((transfer) => transfer.invoice.id), ...recorded.map((row) => row.invoice_id)])];
    exceptions.push(...(await invoiceStateExceptions(db, touched)));
    exceptions.push(...(await screeningHitExceptions(db)));
    exceptions.push(...(await addressFrozenExceptions(db)));

    // 4. Balances at the last block, chain against ledger: of the deposit addresses the range
    // touched, and of those the ledger says hold tokens even if the range did not touch them
    // (money sitting at an address is what a thief or a bug moves).
    // A full sweep compares every deposit address: tokens can reach one nobody had a reason to look at.
    const compared = run.full_sweep
      ? ((await db('invoices').where({ token_chain_id: deps.chainId }).pluck('id')) as string[])
      : [...new Set([...touched, ...(await invoicesHoldingDeposits(db, deps.chainId, toBlock))])];
    const balances = await compareDepositBalances(deps, compared, toBlock);
    exceptions.push(...balances.mismatches);
    // Every clinic's wallets, whether or not this range touched them: money can reach a wallet directly.
    const clinics = (await db('invoices').where({ token_chain_id: deps.chainId }).distinct('clinic_id').pluck('clinic_id')) as string[];
    const wallets = await compareSettlementWallets(deps, clinics, toBlock);
    exceptions.push(...wallets.mismatches);
    const mismatched = new Set(balances.mismatches.map((mismatch) => mismatch.invoiceId));
    const balanced = compared.filter((id) => !mismatched.has(id));
    const reads = balanceReadCounts([balances.reading, wallets.reading]);
    if (reads.balance_reads === 'single_calls') {
      // Same result, many times the calls: an operator should know why the run was slow.
      deps.logger.warn({ run_id: runId, reason: reads.balance_reads_note }, 'reconciliation read balances one call each, not through Multicall3');
    }
    await db('reconciliation_runs').where({ id: runId }).update({ progress: 95, heartbeat_at: db.fn.now() });

    // 5. One write.
    const counts = {
      transfers_on_chain: onChain.length,
      matched: lines.filter((line) => line.result === 'matched').length,
      matched_amount: matchedAmount.toString(),
      exceptions: exceptions.length,
      balances_checked: balances.checked + wallets.checked,
      balance_mismatches: balances.mismatches.length + wallets.mismatches.length,
      balance_scope: run.full_sweep ? 'full' : 'range',
      ...reads,
    };
    return await withTransaction(db, async (trx) => {
      const ids = await upsertExceptions(trx, runId, exceptions);
      // A freeze the issuer has lifted settles its exception.
      const frozenOpen = (await trx('exceptions').where({ type: 'address_frozen' }).whereNot({ status: 'resolved' }).select('id', 'details')) as {
        id: string;
        details: { freeze_id: string };
      }[];
      const liftedFreezes = new Set(
        (
          await freezesById(
            trx,
            frozenOpen.map((row) => row.details.freeze_id),
          )
        )
          .filter((freeze) => freeze.lifted_at !== null)
          .map((freeze) => freeze.id),
      );
      const settled = frozenOpen.filter((row) => liftedFreezes.has(row.details.freeze_id)).map((row) => row.id);
      if (settled.length) {
        await trx('exceptions').whereIn('id', settled).update({ status: 'resolved', resolved_at: trx.fn.now(), updated_at: trx.fn.now(), last_run_id: runId });
      }
      // A balance this run found in agreement settles an earlier mismatch of the same address.
      if (balanced.length) {
        await trx('exceptions')
          .where({ type: 'balance_mismatch', status: 'open' })
          .whereRaw('invoice_id = ANY(?)', [balanced])
          .update({ status: 'resolved', resolved_at: trx.fn.now(), updated_at: trx.fn.now(), last_run_id: runId });
      }
      await writeLines(trx, runId, lines, ids);
      const [done] = (await trx('reconciliation_runs')
        .where({ id: runId })
        .update({ status: 'completed', progress: 100, counts: JSON.stringify({ ...counts, new_exceptions: ids.created }), finished_at: trx.fn.now() })
        .returning('*')) as RunRow[];
      await appendAudit(trx, SYSTEM.reconciler, [
        {
          action: 'reconciliation.completed',
          target: { type: 'reconciliation', id: runId },
          before: { status: 'running' },
          after: { status: 'completed', ...counts, new_exceptions: ids.created },
        },
      ]);
      return done!;
    });
  } catch (error) {
    // What is recorded and shown of it is safe to show: no values a database error quotes, no RPC URL.
    const summary = errorSummary(error);
    const message = summary.message;
    deps.logger.warn({ run_id: runId, err: summary }, 'reconciliation failed');
    return withTransaction(db, async (trx) => {
      const [failed] = (await trx('reconciliation_runs')
        .where({ id: runId })
        .update({ status: 'failed', error: message, finished_at: trx.fn.now() })
        .returning('*')) as RunRow[];
      await appendAudit(trx, SYSTEM.reconciler, [
        {
          action: 'reconciliation.failed',
          target: { type: 'reconciliation', id: runId },
          before: { status: 'running' },
          after: { status: 'failed', error: message },
        },
      ]);
      return failed!;
    });
  }
}

function transferEvidence(transfer: DepositTransfer): Omit<ExceptionInput, 'dedupeKey' | 'type' | 'amount' | 'details'> {
  return {
    clinicId: transfer.invoice.clinic_id,
    invoiceId: transfer.invoice.id,
    txHash: transfer.txHash.toLowerCase(),
    logIndex: transfer.logIndex,
    blockNumber: transfer.blockNumber,
    tokenAddress: storedAddress(transfer.token),
    fromAddress: storedAddress(transfer.from),
  };
}

/** A credited payment the watcher flagged: late, or into a voided invoice. */
function flagException(row: LedgerTransfer, transfer: DepositTransfer): ExceptionInput | undefined {
  const base = { ...transferEvidence(transfer), blockTime: row.block_timestamp, amount: transfer.value };
  const key = `${row.tx_hash}:${row.log_index}`;
  if (row.flag === 'late') return { ...base, dedupeKey: `late_payment:${key}`, type: 'late_payment', details: {} };
  if (row.flag === 'void_invoice') return { ...base, dedupeKey: `payment_to_void_invoice:${key}`, type: 'payment_to_void_invoice', details: {} };
  return undefined;
}

interface InvoiceState {
  id: string;
  clinic_id: string;
  status: string;
  token_address: string;
  token_amount_due: string;
  token_amount_paid: string;
  flush_status: string | null;
  flush_error: string | null;
  payer: string | null;
}

async function invoiceStateExceptions(db: Db, invoiceIds: readonly string[]): Promise<ExceptionInput[]> {
  const failedFlushes = (await db('flush_requests').where({ status: 'failed' }).pluck('invoice_id')) as string[];
  const ids = [...new Set([...invoiceIds, ...failedFlushes])];
  if (ids.length === 0) return [];
  const invoices = (await db('invoices')
    .leftJoin('flush_requests', 'flush_requests.invoice_id', 'invoices.id')
    .whereRaw('invoices.id = ANY(?)', [ids])
    .select(
      'invoices.id',
      'invoices.clinic_id',
      'invoices.status',
      'invoices.token_address',
      db.raw('invoices.token_amount_due::text AS token_amount_due'),
      db.raw('invoices.token_amount_paid::text AS token_amount_paid'),
      'flush_requests.status AS flush_status',
      'flush_requests.last_error AS flush_error',
      db.raw(
        `(SELECT from_address FROM transfers t WHERE t.invoice_id = invoices.id AND t.kind = 'payment' AND t.status = 'confirmed' ORDER BY block_number DESC, log_index DESC LIMIT 1) AS payer`,
      ),
    )) as InvoiceState[];
  const exceptions: ExceptionInput[] = [];
  for (const invoice of invoices) {
    const due = BigInt(invoice.token_amount_due);
    const paid = BigInt(invoice.token_amount_paid);
    const common = {
      clinicId: invoice.clinic_id,
      invoiceId: invoice.id,
      tokenAddress: invoice.token_address,
      fromAddress: invoice.payer ?? undefined,
      expected: due,
      observed: paid,
    };
    if (invoice.status === 'expired' && paid > 0n && paid < due) {
      exceptions.push({
        ...common,
        dedupeKey: `underpayment_expired:${invoice.id}`,
        type: 'underpayment_expired',
        amount: paid,
        details: { shortfall: (due - paid).toString() },
      });
    }
    if (invoice.flush_status === 'failed') {
      exceptions.push({ ...common, dedupeKey: `flush_failed:${invoice.id}`, type: 'flush_failed', amount: 0n, details: { error: invoice.flush_error } });
    }
  }
  exceptions.push(
    ...(await overpaymentExceptions(
      db,
      invoices.filter((invoice) => invoice.status === 'overpaid'),
    )),
  );
  return exceptions;
}

/** One exception per payment held by screening and not decided yet: finance's queue is where two people decide. */
/** One exception per freeze an issuer has not lifted: finance knows why money is not moving. */
async function addressFrozenExceptions(db: Db): Promise<ExceptionInput[]> {
  return (await activeFreezes(db)).map(
    (freeze) =>
      ({
        dedupeKey: `address_frozen:${freeze.id}`,
        type: 'address_frozen',
        amount: 0n,
        clinicId: freeze.clinic_id,
        invoiceId: freeze.invoice_id ?? undefined,
        tokenAddress: freeze.token_address,
        ...(freeze.block_number === null ? {} : { blockNumber: BigInt(freeze.block_number) }),
        details: { freeze_id: freeze.id, address: getAddress(freeze.address), role: freeze.role, frozen_at: freeze.frozen_at.toISOString() },
      }) satisfies ExceptionInput,
  );
}

async function screeningHitExceptions(db: Db): Promise<ExceptionInput[]> {
  const holds = await undecidedHolds(db);
  if (holds.length === 0) return [];
  const transfers = (await db('transfers')
    .whereIn(
      'id',
      holds.map((hold) => hold.transfer_id),
    )
    .select('id', 'tx_hash', 'log_index', 'block_timestamp', 'token_address', db.raw('block_number::text AS block_number'))) as {
    id: string;
    tx_hash: string;
    log_index: number;
    block_timestamp: Date;
    token_address: string;
    block_number: string;
  }[];
  const byId = new Map(transfers.map((transfer) => [transfer.id, transfer]));
  return holds.map((hold) => {
    const transfer = byId.get(hold.transfer_id)!;
    return {
      dedupeKey: `${hold.reason}:${hold.id}`,
      type: hold.reason === 'travel_rule_mismatch' ? 'travel_rule_mismatch' : 'screening_hit',
      amount: BigInt(hold.amount),
      clinicId: hold.clinic_id,
      invoiceId: hold.invoice_id,
      txHash: transfer.tx_hash,
      logIndex: transfer.log_index,
      blockNumber: BigInt(transfer.block_number),
      blockTime: transfer.block_timestamp,
      tokenAddress: transfer.token_address,
      fromAddress: hold.from_address,
      details: {
        hold_id: hold.id,
        hits: hold.hits.map((hit) => ({ list: hit.list, version: hit.version, sha256: hit.sha256, name: hit.name, reference: hit.reference })),
      },
    } satisfies ExceptionInput;
  });
}

/**
 * One overpayment exception per payment that took an invoice past its amount due, keyed by that
 * payment: a later overpayment is a new exception even after an earlier one was resolved.
 */
async function overpaymentExceptions(db: Db, invoices: readonly InvoiceState[]): Promise<ExceptionInput[]> {
  if (invoices.length === 0) return [];
  const payments = (await db('transfers')
    .whereRaw('invoice_id = ANY(?)', [invoices.map((invoice) => invoice.id)])
    .where({ kind: 'payment', status: 'confirmed' })
    .where((query) => query.whereNull('flag').orWhere('flag', 'after_settled'))
    .orderBy([{ column: 'block_number' }, { column: 'log_index' }])
    .select(
      'invoice_id',
      'tx_hash',
      'log_index',
      'block_timestamp',
      'from_address',
      'token_address',
      db.raw('block_number::text AS block_number'),
      db.raw('amount::text AS amount'),
    )) as {
    invoice_id: string;
    tx_hash: string;
    log_index: number;
    block_number: string;
    block_timestamp: Date;
    from_address: string;
    token_address: string;
    amount: string;
  }[];
  const exceptions: ExceptionInput[] = [];
  for (const invoice of invoices) {
    const due = BigInt(invoice.token_amount_due);
    let running = 0n;
    for (const payment of payments.filter((candidate) => candidate.invoice_id === invoice.id)) {
      const before = running;
      running += BigInt(payment.amount);
      if (running <= due) continue;
      exceptions.push({
        dedupeKey: `overpayment:${payment.tx_hash}:${payment.log_index}`,
        type: 'overpayment',
        clinicId: invoice.clinic_id,
        invoiceId: invoice.id,
        txHash: payment.tx_hash,
        logIndex: payment.log_index,
        blockNumber: BigInt(payment.block_number),
        blockTime: payment.block_timestamp,
        tokenAddress: payment.token_address,
        fromAddress: payment.from_address,
        amount: running - (before > due ? before : due),
        expected: due,
        observed: running,
        details: {},
      });
    }
  }
  return exceptions;
}

/**
 * The invoices of chain `chainId` whose deposits balance in the ledger, counting transfers up to
 * `atBlock`, is not zero in some asset: one aggregate over the deposits postings, however many
 * invoices there are.
 */
async function invoicesHoldingDeposits(db: Db, chainId: number, atBlock: bigint): Promise<string[]> {
  const held = (await db.raw(
    `SELECT DISTINCT held.invoice_id
       FROM (SELECT e.invoice_id
               FROM postings p
               JOIN journal_entries e ON e.id = p.entry_id
               JOIN ledger_accounts a ON a.id = p.account_id
               LEFT JOIN transfers t ON t.id = e.transfer_id
              WHERE a.kind = 'deposits' AND a.asset LIKE ? AND e.invoice_id IS NOT NULL AND (t.id IS NULL OR t.block_number <= ?)
              GROUP BY e.invoice_id, p.asset
             HAVING sum(p.amount) <> 0) held`,
    [`${chainId}:%`, atBlock.toString()],
  )) as { rows: { invoice_id: string }[] };
  return held.rows.map((row) => row.invoice_id);
}

/** How a run read its balances, for its counts: through Multicall3 only if every read was; nothing when it read none. */
function balanceReadCounts(readings: readonly (BalanceReading | undefined)[]): { balance_reads?: BalanceReading['via']; balance_reads_note?: string } {
  const made = readings.filter((reading): reading is BalanceReading => reading !== undefined);
  if (made.length === 0) return {};
  if (made.every((reading) => reading.via === 'multicall3')) return { balance_reads: 'multicall3' };
  const notes = [...new Set(made.flatMap((reading) => (reading.reason ? [reading.reason] : [])))];
  return { balance_reads: 'single_calls', balance_reads_note: notes.join('; ') };
}

async function compareDepositBalances(
  deps: ReconciliationDeps,
  invoiceIds: readonly string[],
  atBlock: bigint,
): Promise<{ checked: number; mismatches: ExceptionInput[]; reading: BalanceReading | undefined }> {
  if (invoiceIds.length === 0) return { checked: 0, mismatches: [], reading: undefined };
  const { db } = deps;
  // The ledger's deposits balance of each invoice in each asset it has postings in, counting
  // only transfers up to `atBlock`; the invoice's own token is compared even with none.
  const rows = (await db.raw(
    `SELECT i.id, i.clinic_id, i.deposit_address, i.token_address AS own_token, coalesce(b.token_address, i.token_address) AS token_address,
            coalesce(b.balance, 0)::text AS ledger_balance
       FROM invoices i
       LEFT JOIN LATERAL (
         SELECT split_part(p.asset, ':', 2) AS token_address, sum(p.amount) AS balance
           FROM postings p
           JOIN journal_entries e ON e.id = p.entry_id
           JOIN ledger_accounts a ON a.id = p.account_id
           LEFT JOIN transfers t ON t.id = e.transfer_id
          WHERE e.invoice_id = i.id AND a.kind = 'deposits' AND (t.id IS NULL OR t.block_number <= ?)
          GROUP BY p.asset
       ) b ON true
      WHERE i.id = ANY(?)`,
    [atBlock.toString(), [...invoiceIds]],
  )) as { rows: { id: string; clinic_id: string; deposit_address: string; own_token: string; token_address: string; ledger_balance: string }[] };
  const checks = new Map(rows.rows.map((row) => [`${row.id}:${row.token_address}`, row]));
  // An invoice with postings in another asset only is compared in its own token too.
  for (const row of rows.rows) {
    if (!checks.has(`${row.id}:${row.own_token}`)) checks.set(`${row.id}:${row.own_token}`, { ...row, token_address: row.own_token, ledger_balance: '0' });
  }
  const pairs = [...checks.values()];
  // Stored addresses are lower-case hex, which the chain takes as they are: no checksum to compute per address.
  const reading = await readBalances(
    deps.chain,
    pairs.map((row): BalancePair => ({ token: row.token_address as Address, holder: row.deposit_address as Address })),
    atBlock,
    { multicall: deps.multicall },
  );
  const mismatches: ExceptionInput[] = [];
  pairs.forEach((row, index) => {
    const ledger = BigInt(row.ledger_balance);
    const chain = reading.balances[index]!;
    if (ledger === chain) return;
    mismatches.push({
      // A new difference is a new exception; the same one found again is the same exception.
      dedupeKey: `balance_mismatch:${row.id}:${row.token_address === row.own_token ? '' : `${row.token_address}:`}${ledger}:${chain}`,
      type: 'balance_mismatch',
      clinicId: row.clinic_id,
      invoiceId: row.id,
      tokenAddress: row.token_address,
      blockNumber: atBlock,
      amount: chain > ledger ? chain - ledger : ledger - chain,
      expected: ledger,
      observed: chain,
      details: { address: getAddress(row.deposit_address) },
    });
  });
  return { checked: pairs.length, mismatches, reading };
}

/**
 * Each clinic's settlement wallets (every address its invoices were bound to) against its
 * `settlement` account at `atBlock`, in each accepted token its books hold (and the pricing
 * token always). A clinic spending from its own wallet shows up here too: finance then writes
 * the difference off with a reason, or the clinic's own books explain it.
 */
async function compareSettlementWallets(
  deps: ReconciliationDeps,
  clinicIds: readonly string[],
  atBlock: bigint,
): Promise<{ checked: number; mismatches: ExceptionInput[]; reading: BalanceReading | undefined }> {
  if (clinicIds.length === 0) return { checked: 0, mismatches: [], reading: undefined };
  const { db } = deps;
  const addresses = (await db('invoices').whereIn('clinic_id', clinicIds).distinct('clinic_id', 'settlement_address')) as {
    clinic_id: string;
    settlement_address: string;
  }[];
  const ledger = (await db('postings')
    .join('journal_entries as e', 'e.id', 'postings.entry_id')
    .join('ledger_accounts as a', 'a.id', 'postings.account_id')
    .leftJoin('transfers as t', 't.id', 'e.transfer_id')
    .whereIn('e.clinic_id', clinicIds)
    .where('a.kind', 'settlement')
    .where((query) => query.whereNull('t.id').orWhere('t.block_number', '<=', atBlock.toString()))
    .groupBy('e.clinic_id', 'postings.asset')
    .select('e.clinic_id', 'postings.asset', db.raw('sum(postings.amount)::text AS balance'))) as { clinic_id: string; asset: string; balance: string }[];
  const accepted = deps.tokens?.map((token) => token.address) ?? [deps.token];
  // Every (token, wallet) of every clinic in one read; each check sums its slice of the answer.
  const pairs: BalancePair[] = [];
  const checks: { clinicId: string; token: Address; wallets: Address[]; books: bigint; first: number }[] = [];
  for (const clinicId of clinicIds) {
    const wallets = addresses.filter((row) => row.clinic_id === clinicId).map((row) => getAddress(row.settlement_address));
    const booked = ledger.filter((row) => row.clinic_id === clinicId);
    const tokens = accepted.filter((token) => token === deps.token || booked.some((row) => row.asset === assetOf(deps.chainId, token)));
    for (const token of tokens) {
      const books = BigInt(booked.find((row) => row.asset === assetOf(deps.chainId, token))?.balance ?? '0');
      checks.push({ clinicId, token, wallets, books, first: pairs.length });
      pairs.push(...wallets.map((holder) => ({ token, holder })));
    }
  }
  const reading = await readBalances(deps.chain, pairs, atBlock, { multicall: deps.multicall });
  const mismatches: ExceptionInput[] = [];
  for (const { clinicId, token, wallets, books, first } of checks) {
    const chain = reading.balances.slice(first, first + wallets.length).reduce((sum, value) => sum + value, 0n);
    if (chain === books) continue;
    const tokenKey = token === deps.token ? '' : `${storedAddress(token)}:`;
    mismatches.push({
      dedupeKey: `balance_mismatch:settlement:${clinicId}:${tokenKey}${books}:${chain}`,
      type: 'balance_mismatch',
      clinicId,
      tokenAddress: token,
      blockNumber: atBlock,
      amount: chain > books ? chain - books : books - chain,
      expected: books,
      observed: chain,
      details: { wallets },
    });
  }
  return { checked: clinicIds.length, mismatches, reading };
}

async function writeLines(trx: Trx, runId: string, lines: readonly Line[], ids: { byKey: Map<string, string> }): Promise<void> {
  const rows = lines.map(({ result, transfer, dedupeKey, blockTime }) => ({
    run_id: runId,
    result,
    clinic_id: transfer.invoice.clinic_id,
    invoice_id: transfer.invoice.id,
    tx_hash: transfer.txHash.toLowerCase(),
    log_index: transfer.logIndex,
    block_number: transfer.blockNumber.toString(),
    block_time: blockTime ?? null,
    token_address: storedAddress(transfer.token),
    from_address: storedAddress(transfer.from),
    to_address: storedAddress(transfer.to),
    amount: transfer.value.toString(),
    exception_id: dedupeKey ? (ids.byKey.get(dedupeKey) ?? null) : null,
  }));
  for (let start = 0; start < rows.length; start += 1000) await trx('reconciliation_lines').insert(rows.slice(start, start + 1000));
}

/** The newest reconciliation run, if any: what finance's dashboard shows. */
export async function lastRun(db: Db): Promise<RunRow | undefined> {
  return (await db('reconciliation_runs').orderBy('created_at', 'desc').first()) as RunRow | undefined;
}

/** The newest runs, newest first: finance's reconciliation page. */
export async function recentRuns(db: Db, limit = 20): Promise<RunRow[]> {
  return (await db('reconciliation_runs').orderBy('created_at', 'desc').limit(limit)) as RunRow[];
}
