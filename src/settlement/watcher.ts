/**
 * settlement/ — what the gateway decides from the chain: which transfers are payments,
 * forwards or outflows, posting them once final, undoing them after a reorg, what each does to
 * its invoice, expiry, forwarding deposits to clinics (the flusher), and changing where a
 * clinic's money goes (settlement address changes, approved by a second person).
 *
 * The chain watcher: follows `Transfer` logs of the accepted tokens, stores every transfer into
 * or out of a deposit address once, and posts it to the ledger once it is final.
 *
 * One pass ({@link syncOnce}):
 * 1. **Reorg check.** The hash stored for the cursor block (and for every block that held a
 *    transfer of ours) is compared with the chain's. On a mismatch it walks down to the newest
 *    stored block that still matches — the fork point — and rolls back everything above it:
 *    unconfirmed transfers are dropped, posted ones get reversing entries. Never by guesswork.
 * 2. **Read again.** Blocks read before they were final are read once more now that they are
 *    (the verified cursor follows): a node behind a load balancer can answer `eth_getLogs` from
 *    a backend that has not indexed the newest blocks yet, with none of their logs or only some.
 * 3. **Read.** Logs from the cursor onward, in bounded ranges (split when the node refuses),
 *    filtered to deposit addresses; each stored once, keyed `(chain_id, tx_hash, log_index)`,
 *    together with the new cursor in one transaction (a few thousand at a time, in whole
 *    blocks, when a range holds more). Blocks final already count as read again.
 * 4. **Confirm.** Transfers at or below the final head (head − confirmations + 1, or the node's
 *    `finalized` block) and the verified cursor are posted: one journal entry each, the invoice
 *    matched, webhooks and flush requests written in the same transaction.
 * 5. **Expire** invoices whose expiry is before the time of that block.
 *
 * Every write is idempotent, so a crash at any point loses nothing and doubles nothing.
 *
 * Owns tables: transfers, transfer_generations, flush_requests, settlement_address_changes, relayer_transactions.
 * May import: platform, domain, audit, identity, chain, ledger, billing, webhooks, compliance.
 */
import { type Address, getAddress } from 'viem';
import { type AuditEvent, appendAudit, SYSTEM } from '../audit/auditLog.js';
import { inPool } from '../chain/balances.js';
import {
  anchorStartBlock,
  blockHeaders,
  fetchHeader,
  findForkPoint,
  forgetBlocksAbove,
  forgetHeadersAbove,
  NodeBehindError,
  rememberHeader,
  type StoredBlock,
  storeBlocks,
} from '../chain/blocks.js';
import type { ChainClient } from '../chain/client.js';
import { initCursor, readCursors, writeCursor } from '../chain/cursor.js';
import { type Finality, finalHead } from '../chain/finality.js';
import { type AcceptedToken, sanctionsOracleAbi } from '../chain/paymentNetwork.js';
import { type HoldReason, holdPayments } from '../compliance/holds.js';
import { type OracleAnswer, screenPayers } from '../compliance/screening.js';
import { storedAddress } from '../domain/address.js';
import { confirmationsAt } from '../domain/confirmations.js';
import { assetOf, type EntryKind, findEntry, invoiceDepositBalance, invoiceDepositBalances, postEntries, postingsFor, reverseEntry } from '../ledger/ledger.js';
import type { Db, Trx } from '../platform/db.js';
import { failpoint, planted } from '../platform/failpoints.js';
import { newId } from '../platform/ids.js';
import { errorSummary, type Logger } from '../platform/log.js';
import type { WatcherMetrics } from '../platform/metrics.js';
import { withTransaction } from '../platform/transaction.js';
import { type DepositTransfer, readDepositTransfers, type TransferKind } from './depositTransfers.js';
import { expireDueInvoices, InvoiceBatch, recordConfirmedPaymentReorged, recordPendingPaymentDropped, requestFlush } from './invoiceEffects.js';

export interface WatcherDeps {
  db: Db;
  chain: ChainClient;
  logger: Logger;
  chainId: number;
  /** The pricing token. */
  token: Address;
  /** Every accepted token with its decimals; default: `token` alone. */
  tokens?: readonly Pick<AcceptedToken, 'address' | 'decimals'>[];
  finality: Finality;
  /** Base units by which a payment may miss the amount due and still count as exact. */
  tolerance: bigint;
  /** Transfers confirmed per database transaction. */
  confirmBatchSize?: number;
  /** Transfers stored per database transaction when a range holds more (in whole blocks). */
  storeBatchSize?: number;
  /** A sanctions oracle every payer is also asked about, at the payment's block. */
  sanctionsOracle?: Address | null | undefined;
  metrics?: WatcherMetrics;
}

export interface SyncResult {
  head: bigint;
  finalHead: bigint;
  cursor: bigint;
  stored: number;
  confirmed: number;
  rolledBackTo: bigint | undefined;
}

interface TransferRow {
  id: string;
  tx_hash: string;
  log_index: number;
  block_number: string;
  block_hash: string;
  block_timestamp: Date;
  kind: TransferKind;
  invoice_id: string;
  clinic_id: string;
  token_address: string;
  /** As stored (lower case): the payer of a payment. */
  from_address: string;
  amount: string;
  status: 'pending' | 'confirmed' | 'reorged';
  generation: number;
}

/** One pass of the watcher over at most `maxBlockRange` blocks. */
export async function syncOnce(deps: WatcherDeps): Promise<SyncResult> {
  const { db, chain, chainId } = deps;
  const head = await chain.getBlockNumber({ cacheTime: 0 });
  let cursors = await readCursors(db, chainId);
  if (cursors === undefined) {
    await initCursor(db, chainId, head);
    cursors = { read: head, verified: head };
  }
  let { read: cursor, verified } = cursors;

  await anchorStartBlock(deps, cursor);
  let rolledBackTo: bigint | undefined;
  const forkPoint = await findForkPoint(deps, cursor);
  if (forkPoint < cursor) {
    await rollBack(deps, forkPoint);
    forgetHeadersAbove(chain, forkPoint);
    deps.metrics?.reorg(Number(cursor - forkPoint));
    deps.logger.warn({ chain_id: chainId, from_block: (forkPoint + 1n).toString(), to_block: cursor.toString() }, 'reorg: rolled back');
    rolledBackTo = forkPoint;
    cursor = forkPoint;
    if (verified > forkPoint) verified = forkPoint;
  }

  // A planted bug for the fault simulator: transfers posted one block before they are final.
  const final = (await finalHead(chain, deps.finality, head)) + (planted('confirm_before_final') ? 1n : 0n);
  const range = deps.finality.maxBlockRange;
  let stored = 0;
  // Blocks read before they were final are read again now that they are: the node may have
  // answered from a backend that had not indexed them yet, with none of their logs or some.
  const recheckTo = final < cursor ? final : cursor;
  if (verified < recheckTo) {
    const toBlock = verified + range < recheckTo ? verified + range : recheckTo;
    stored += await ingestRange(deps, verified + 1n, toBlock, 'verified');
    verified = toBlock;
  }
  if (cursor < head) {
    const toBlock = cursor + range < head ? cursor + range : head;
    // Blocks final already are read once, and count as read again when nothing before them waits to be.
    if (cursor < final && verified === cursor) {
      const finalTo = toBlock < final ? toBlock : final;
      stored += await ingestRange(deps, cursor + 1n, finalTo, 'both');
      cursor = verified = finalTo;
    }
    if (cursor < toBlock) {
      stored += await ingestRange(deps, cursor + 1n, toBlock, 'read');
      cursor = toBlock;
    }
  }

  // Posted, and expired, only as far as every block has been read while final.
  const settledTo = final < verified ? final : verified;
  const confirmed = await confirmFinalTransfers(deps, settledTo, head);
  if (settledTo > 0n) {
    // A final block's time: read once, usually as an earlier pass's last block.
    const finalBlock = (await blockHeaders(chain, [{ number: settledTo }])).get(settledTo)!;
    await withTransaction(db, (trx) => expireDueInvoices(trx, finalBlock.timestamp));
  }
  deps.metrics?.lag(Number(head - cursor));
  return { head, finalHead: final, cursor, stored, confirmed, rolledBackTo };
}

/**
 * The decimals of an accepted token, so that a payment in it counts at par on an invoice priced
 * in another; undefined when the watcher knows only the pricing token (nothing to rescale).
 */
function decimalsOf(deps: WatcherDeps, token: string): number | undefined {
  const wanted = token.toLowerCase();
  return deps.tokens?.find((candidate) => candidate.address.toLowerCase() === wanted)?.decimals;
}

/** Undoes everything above `forkPoint`: drops unconfirmed transfers, reverses posted ones. */
async function rollBack(deps: WatcherDeps, forkPoint: bigint): Promise<void> {
  await withTransaction(deps.db, async (trx) => {
    const orphaned = (await trx('transfers')
      .where({ chain_id: deps.chainId })
      .where('block_number', '>', forkPoint.toString())
      .whereIn('status', ['pending', 'confirmed'])
      .orderBy([
        { column: 'block_number', order: 'desc' },
        { column: 'log_index', order: 'desc' },
      ])
      .forUpdate()) as TransferRow[];
    for (const transfer of orphaned) {
      const amount = BigInt(transfer.amount);
      if (transfer.status === 'pending') {
        // A transfer that was posted once, reorged and seen again is named by its earlier
        // (reversed) entry: it stays, reorged, and may come back once more. Others leave no trace.
        if (transfer.generation > 0) await trx('transfers').where({ id: transfer.id }).update({ status: 'reorged' });
        else await trx('transfers').where({ id: transfer.id }).del();
        if (transfer.kind === 'payment') await recordPendingPaymentDropped(trx, transfer.invoice_id, amount, decimalsOf(deps, transfer.token_address));
        continue;
      }
      await trx('transfers').where({ id: transfer.id }).update({ status: 'reorged' });
      const entryId = await findEntry(trx, entryKey(transfer));
      if (entryId !== undefined) await reverseEntry(trx, entryId);
      if (transfer.kind === 'payment') {
        await recordConfirmedPaymentReorged(trx, {
          invoiceId: transfer.invoice_id,
          amount,
          decimals: decimalsOf(deps, transfer.token_address),
          txHash: transfer.tx_hash,
          tolerance: deps.tolerance,
          now: new Date(),
        });
      } else if (transfer.kind === 'forward' && (await invoiceDepositBalance(trx, transfer.invoice_id)) > 0n) {
        // The funds are back at the deposit address as far as the canonical chain knows.
        await requestFlush(trx, transfer.invoice_id);
      }
    }
    await forgetBlocksAbove(trx, deps.chainId, forkPoint);
    await writeCursor(trx, deps.chainId, forkPoint, 'back');
    await appendAudit(
      trx,
      SYSTEM.watcher,
      orphaned
        .filter((transfer) => transfer.status === 'confirmed')
        .map((transfer) => ({
          action: 'transfer.reorged',
          target: { type: 'transfer', id: transfer.id },
          clinicId: transfer.clinic_id,
          before: { status: 'confirmed', block_hash: transfer.block_hash },
          after: {
            status: 'reorged',
            kind: transfer.kind,
            invoice_id: transfer.invoice_id,
            tx_hash: transfer.tx_hash,
            amount: String(transfer.amount),
            fork_point: forkPoint.toString(),
          },
        })),
    );
  });
}

/**
 * Transfers stored per transaction, in whole blocks: a range read after downtime (thousands of
 * payments) is stored in several transactions, each moving the cursor to its last block, so
 * that no transaction holds more than a few thousand invoices and their events in memory.
 */
const STORE_BATCH_SIZE = 5000;

/**
 * Reads `[fromBlock, toBlock]`, stores the transfers of ours (those not stored yet) and the
 * block hashes, and moves `cursors` (see {@link writeCursor}).
 */
async function ingestRange(deps: WatcherDeps, fromBlock: bigint, toBlock: bigint, cursors: 'read' | 'verified' | 'both'): Promise<number> {
  const { db, chain, chainId } = deps;
  const ours = await readDepositTransfers({ db, chain, chainId, token: deps.token, tokens: deps.tokens?.map((token) => token.address), fromBlock, toBlock });
  // A node behind the range answers eth_getLogs with nothing for the blocks it lacks: that
  // emptiness is no evidence, and the cursor must not move past blocks nobody has read.
  const [answeredHead, blocks] = await Promise.allSettled([chain.getBlockNumber({ cacheTime: 0 }), blocksOf(chain, ours, toBlock)]);
  if (answeredHead.status === 'rejected') throw answeredHead.reason;
  if (answeredHead.value < toBlock) throw new NodeBehindError(toBlock);
  if (blocks.status === 'rejected') throw blocks.reason;

  let stored = 0;
  let start = 0;
  do {
    let end = Math.min(start + (deps.storeBatchSize ?? STORE_BATCH_SIZE), ours.length);
    while (end < ours.length && ours[end]!.blockNumber === ours[end - 1]!.blockNumber) end += 1;
    // Every log up to `through` is in this batch or an earlier one: the cursor may move there.
    const through = end === ours.length ? toBlock : ours[end - 1]!.blockNumber;
    stored += await storeRead(deps, ours.slice(start, end), blocks.value, through, cursors);
    start = end;
  } while (start < ours.length);
  return stored;
}

/** Stores `transfers` (read with `blocks`) and what they change, and moves `cursors` to `through`, in one transaction. */
async function storeRead(
  deps: WatcherDeps,
  transfers: readonly DepositTransfer[],
  blocks: ReadonlyMap<bigint, StoredBlock>,
  through: bigint,
  cursors: 'read' | 'verified' | 'both',
): Promise<number> {
  const { chainId } = deps;
  return withTransaction(deps.db, async (trx) => {
    const held = new Set([...transfers.map((transfer) => transfer.blockNumber), through]);
    await storeBlocks(
      trx,
      chainId,
      [...held].map((number) => blocks.get(number)!),
    );
    // Transfers before invoices, as confirming locks them: two watchers at once never wait on each other in a circle.
    const storedIds = await storeTransfers(
      trx,
      transferRows(
        chainId,
        transfers.map((transfer) => ({ transfer, blockTimestamp: blocks.get(transfer.blockNumber)!.timestamp })),
      ),
    );
    const seen = transfers.filter(
      (transfer) => transfer.kind === 'payment' && transfer.value > 0n && storedIds.has(`${transfer.txHash.toLowerCase()}:${transfer.logIndex}`),
    );
    if (seen.length) {
      const invoices = await InvoiceBatch.lock(
        trx,
        seen.map((transfer) => transfer.invoice.id),
      );
      for (const transfer of seen) invoices.paymentSeen(transfer.invoice.id, transfer.value, decimalsOf(deps, transfer.token));
      await invoices.write(trx);
      await appendAudit(trx, SYSTEM.watcher, invoices.statusChanges());
    }
    // After the events read it: they count confirmations from the blocks stored before these.
    await writeCursor(trx, chainId, through, cursors);
    failpoint('watcher.store.before_commit');
    deps.metrics?.logsProcessed(transfers.length);
    return storedIds.size;
  });
}

/**
 * The hash and time of every block that holds one of `transfers`, and of `toBlock` (the hash the
 * next pass's reorg check compares). A log's block time comes with the log where the node puts it
 * there; otherwise the header is read (or remembered, for the very block the log names).
 */
async function blocksOf(chain: ChainClient, transfers: readonly DepositTransfer[], toBlock: bigint): Promise<Map<bigint, StoredBlock>> {
  const blocks = new Map<bigint, StoredBlock>();
  const unknown = new Map<bigint, string>();
  for (const transfer of transfers) {
    if (transfer.blockTimestamp !== undefined && !blocks.has(transfer.blockNumber)) {
      blocks.set(transfer.blockNumber, { number: transfer.blockNumber, hash: transfer.blockHash, timestamp: new Date(Number(transfer.blockTimestamp) * 1000) });
    } else if (transfer.blockTimestamp === undefined) unknown.set(transfer.blockNumber, transfer.blockHash);
  }
  const [last, read] = await Promise.all([
    fetchHeader(chain, toBlock),
    blockHeaders(
      chain,
      [...unknown].map(([number, hash]) => ({ number, hash })),
    ),
  ]);
  for (const [number, header] of read) blocks.set(number, header);
  for (const transfer of transfers) {
    const block = transfer.blockNumber === toBlock ? last : blocks.get(transfer.blockNumber);
    if (block?.hash !== transfer.blockHash) {
      // The chain changed between reading logs and headers; the next pass sees it whole.
      throw new Error(`block ${transfer.blockNumber} changed while it was being read`);
    }
  }
  for (const header of blocks.values()) rememberHeader(chain, header);
  blocks.set(toBlock, last);
  return blocks;
}

/** The rows of `items` as {@link storeTransfers} takes them. */
function transferRows(chainId: number, items: readonly { transfer: DepositTransfer; blockTimestamp: Date }[]): string {
  const rows = items.map(({ transfer, blockTimestamp }) => ({
    id: newId('pay'),
    chain_id: chainId,
    tx_hash: transfer.txHash.toLowerCase(),
    log_index: transfer.logIndex,
    block_number: transfer.blockNumber.toString(),
    block_hash: transfer.blockHash.toLowerCase(),
    block_timestamp: blockTimestamp,
    token_address: storedAddress(transfer.token),
    from_address: storedAddress(transfer.from),
    to_address: storedAddress(transfer.to),
    amount: transfer.value.toString(),
    kind: transfer.kind,
    invoice_id: transfer.invoice.id,
    clinic_id: transfer.invoice.clinic_id,
    status: 'pending',
  }));
  return JSON.stringify(rows);
}

/**
 * Stores transfers once, in one statement. A log seen again is a no-op; a transfer that was
 * orphaned by a reorg and has reappeared on the canonical chain becomes pending again with its
 * new block (and one more generation), and with what the log says now, which may differ: the
 * transaction ran again against another state. Returns the `tx_hash:log_index` of those written.
 */
async function storeTransfers(trx: Trx, rows: string): Promise<Set<string>> {
  if (rows === '[]') return new Set();
  const result = (await trx.raw(
    `INSERT INTO transfers (id, chain_id, tx_hash, log_index, block_number, block_hash, block_timestamp, token_address, from_address, to_address, amount, kind, invoice_id, clinic_id, status)
     SELECT * FROM jsonb_to_recordset(?::jsonb) AS x(id text, chain_id int, tx_hash text, log_index int, block_number bigint, block_hash text, block_timestamp timestamptz,
       token_address text, from_address text, to_address text, amount numeric, kind text, invoice_id text, clinic_id text, status text)
     ON CONFLICT (chain_id, tx_hash, log_index) DO UPDATE
       SET status = 'pending', generation = transfers.generation + 1, block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash,
           block_timestamp = EXCLUDED.block_timestamp, seen_at = now(), confirmed_at = NULL, flag = NULL,
           -- A transaction mined again runs against another state: the same log may now move another amount (a sweep of a
           -- balance that has grown), so everything the log says is taken anew.
           token_address = EXCLUDED.token_address, from_address = EXCLUDED.from_address, to_address = EXCLUDED.to_address,
           amount = EXCLUDED.amount, kind = EXCLUDED.kind, invoice_id = EXCLUDED.invoice_id, clinic_id = EXCLUDED.clinic_id
       WHERE transfers.status = 'reorged'
     RETURNING tx_hash, log_index`,
    [rows],
  )) as { rows: { tx_hash: string; log_index: number }[] };
  return new Set(result.rows.map((row) => `${row.tx_hash}:${row.log_index}`));
}

/**
 * The journal entry a transfer's confirmation posts is keyed by the transfer and how many times
 * it came back after a reorg: a transfer orphaned and re-included (even in a block with the
 * same hash) is posted anew, and the same confirmation retried is not.
 */
function entryKey(transfer: Pick<TransferRow, 'kind' | 'id' | 'generation'>): string {
  return `${transfer.kind}:${transfer.id}:${transfer.generation}`;
}

/** Posts every pending transfer at or below `finalHead`, in chain order; `head` is the chain's head now. */
async function confirmFinalTransfers(deps: WatcherDeps, finalHead: bigint, head: bigint): Promise<number> {
  const batchSize = deps.confirmBatchSize ?? CONFIRM_BATCH_SIZE;
  let confirmed = 0;
  for (;;) {
    const done = await withTransaction(deps.db, async (trx) => {
      const batch = (await trx('transfers')
        .where({ chain_id: deps.chainId, status: 'pending' })
        .where('block_number', '<=', finalHead.toString())
        .orderBy([{ column: 'block_number' }, { column: 'log_index' }])
        .limit(batchSize)
        .forUpdate()
        .skipLocked()) as TransferRow[];
      await confirmTransfers(deps, trx, batch, head);
      if (batch.length > 0) failpoint('watcher.confirm.before_commit');
      return batch.length;
    });
    if (done > 0) failpoint('watcher.confirm.after_commit');
    confirmed += done;
    if (done < batchSize) return confirmed;
  }
}

/**
 * Transfers confirmed per transaction by default: every table is written once per batch, so a
 * batch costs a few dozen statements whatever its size; a thousand keeps the invoices it locks
 * locked for well under a second.
 */
const CONFIRM_BATCH_SIZE = 1000;
/** Sanctions-oracle calls in flight at once. */
const ORACLE_CONCURRENCY = 16;

/** The journal entry a final transfer of each kind posts. */
const ENTRY_OF: Record<Exclude<TransferKind, 'foreign_token'>, Exclude<EntryKind, 'reversal'>> = {
  payment: 'payment',
  forward: 'forward',
  unexpected_outflow: 'outflow',
};

/**
 * Posts a batch of final transfers, in chain order: one journal entry each (a transfer posted
 * before is skipped, and then leaves its invoice alone), the invoices matched, their webhooks
 * and flush requests — each table written once for the whole batch.
 */
async function confirmTransfers(deps: WatcherDeps, trx: Trx, batch: readonly TransferRow[], head: bigint): Promise<void> {
  const confirmations = (blockNumber: bigint) => confirmationsAt(blockNumber, head);
  const posted = batch.filter((transfer) => transfer.kind !== 'foreign_token' && BigInt(transfer.amount) > 0n);
  // Invoices first: the entries' references to them then take no lock of their own.
  const moving = posted.filter((transfer) => transfer.kind !== 'unexpected_outflow');
  const invoices = await InvoiceBatch.lock(
    trx,
    moving.map((transfer) => transfer.invoice_id),
  );
  const created = await postEntries(
    trx,
    posted.map((transfer) => {
      const kind = ENTRY_OF[transfer.kind as Exclude<TransferKind, 'foreign_token'>];
      return {
        idempotencyKey: entryKey(transfer),
        kind,
        clinicId: transfer.clinic_id,
        asset: assetOf(deps.chainId, transfer.token_address),
        invoiceId: transfer.invoice_id,
        transferId: transfer.id,
        postings: postingsFor(kind, BigInt(transfer.amount)),
      };
    }),
  );
  if (planted('post_twice')) {
    // A planted bug for the fault simulator: each payment posted again under another key.
    const payments = posted.filter((transfer) => transfer.kind === 'payment');
    await postEntries(
      trx,
      payments.map((transfer) => ({
        idempotencyKey: `${entryKey(transfer)}:again`,
        kind: 'payment' as const,
        clinicId: transfer.clinic_id,
        asset: assetOf(deps.chainId, transfer.token_address),
        invoiceId: transfer.invoice_id,
        transferId: transfer.id,
        postings: postingsFor('payment', BigInt(transfer.amount)),
      })),
    );
  }
  // The invoice moves with the ledger: a transfer posted before touches it no more.
  const effective = posted.filter((transfer) => created.has(entryKey(transfer)) && transfer.kind !== 'unexpected_outflow');
  const flags = new Map<string, string>();
  if (effective.length) {
    const forwarded = effective.filter((transfer) => transfer.kind === 'forward').map((transfer) => transfer.invoice_id);
    const depositBalances = await invoiceDepositBalances(trx, forwarded);
    for (const transfer of effective) {
      const amount = BigInt(transfer.amount);
      if (transfer.kind === 'payment') {
        const flag = invoices.paymentConfirmed({
          invoiceId: transfer.invoice_id,
          amount,
          decimals: decimalsOf(deps, transfer.token_address),
          token: getAddress(transfer.token_address),
          blockTimestamp: transfer.block_timestamp,
          txHash: transfer.tx_hash,
          tolerance: deps.tolerance,
          wasPending: true,
        });
        if (flag) flags.set(transfer.id, flag);
      } else {
        invoices.forwardConfirmed({
          invoiceId: transfer.invoice_id,
          amount,
          txHash: transfer.tx_hash,
          depositBalanceAfter: depositBalances.get(transfer.invoice_id) ?? 0n,
        });
      }
    }
    await holdListedPayers(deps, trx, invoices, effective);
    // Transfers first, so the webhooks show the payments as confirmed.
    await markConfirmed(trx, batch, flags, confirmations);
    await invoices.write(trx);
    await appendAudit(trx, SYSTEM.watcher, [...postingAudit(posted, created, flags), ...invoices.statusChanges()]);
    return;
  }
  await markConfirmed(trx, batch, flags, confirmations);
  await appendAudit(trx, SYSTEM.watcher, postingAudit(posted, created, flags));
}

/**
 * Screens the payers of the payments this batch posts against the lists in force (and the
 * sanctions oracle at each payment's block, when one is configured), keeping each result as
 * evidence. A payment from a listed payer is held (credited, never forwarded until two finance
 * people decide); one the oracle could not be asked about is held pending screening until it can.
 */
async function holdListedPayers(deps: WatcherDeps, trx: Trx, invoices: InvoiceBatch, posted: readonly TransferRow[]): Promise<void> {
  const payments = posted.filter((transfer) => transfer.kind === 'payment');
  if (payments.length === 0) return;
  const oracle = deps.sanctionsOracle;
  const answers: OracleAnswer[] = [];
  if (oracle) {
    await inPool([...payments.keys()], ORACLE_CONCURRENCY, async (index) => {
      const transfer = payments[index]!;
      answers[index] = await askOracle(deps.chain, oracle, transfer.from_address, BigInt(transfer.block_number));
    });
  }
  const verdicts = await screenPayers(
    trx,
    payments.map((transfer, index) => ({ transferId: transfer.id, generation: transfer.generation, address: transfer.from_address, oracle: answers[index] })),
  );
  const held = payments.flatMap((transfer) => {
    const verdict = verdicts.get(transfer.id);
    // Above the travel-rule threshold, only the wallet the payer proved may pay; any other is held.
    const travelRule = invoices.travelRuleOf(transfer.invoice_id);
    const mismatch = travelRule.status !== 'not_required' && travelRule.payer !== transfer.from_address.toLowerCase();
    if (!verdict && !mismatch) return [];
    const reason: HoldReason = verdict && verdict.hits.length > 0 ? 'screening_hit' : mismatch ? 'travel_rule_mismatch' : 'screening_pending';
    return [{ transfer, hits: verdict?.hits ?? [], reason }];
  });
  const holds = await holdPayments(
    trx,
    SYSTEM.watcher,
    held.map(({ transfer, hits, reason }) => ({
      transferId: transfer.id,
      invoiceId: transfer.invoice_id,
      clinicId: transfer.clinic_id,
      from: transfer.from_address,
      amount: BigInt(transfer.amount),
      hits,
      reason,
    })),
  );
  held.forEach(({ transfer, hits, reason }, index) => {
    invoices.paymentHeld(transfer.invoice_id, {
      id: holds[index]!.id,
      txHash: transfer.tx_hash,
      amount: BigInt(transfer.amount),
      lists: hits.map((hit) => hit.list),
      reason,
    });
  });
}

/**
 * What the sanctions oracle says of `address` at `block`: the state a payment was made in. No
 * answer (the node or the oracle failing) is recorded as such, never taken for a "no".
 */
export async function askOracle(chain: ChainClient, oracle: Address, address: string, block: bigint): Promise<OracleAnswer> {
  try {
    const answer = await chain.readContract({
      address: oracle,
      abi: sanctionsOracleAbi,
      functionName: 'isSanctioned',
      args: [getAddress(address)],
      blockNumber: block,
    });
    return { oracle: oracle.toLowerCase(), block: block.toString(), answer, error: null };
  } catch (error) {
    return { oracle: oracle.toLowerCase(), block: block.toString(), answer: null, error: errorSummary(error).message.slice(0, 300) };
  }
}

/** Audit records of the transfers this batch posted (one each; a transfer posted before has none). */
function postingAudit(posted: readonly TransferRow[], created: ReadonlyMap<string, string>, flags: ReadonlyMap<string, string>): AuditEvent[] {
  return posted
    .filter((transfer) => created.has(entryKey(transfer)))
    .map((transfer) => ({
      action: `${transfer.kind}.posted`,
      target: { type: 'transfer', id: transfer.id },
      clinicId: transfer.clinic_id,
      after: {
        invoice_id: transfer.invoice_id,
        entry_id: created.get(entryKey(transfer))!,
        tx_hash: transfer.tx_hash,
        log_index: transfer.log_index,
        block_number: String(transfer.block_number),
        amount: String(transfer.amount),
        flag: flags.get(transfer.id) ?? null,
      },
    }));
}

/** Marks the batch confirmed, with its flags and the confirmations each transfer has as it is posted. */
async function markConfirmed(
  trx: Trx,
  batch: readonly TransferRow[],
  flags: ReadonlyMap<string, string>,
  confirmations: (blockNumber: bigint) => number,
): Promise<void> {
  if (batch.length === 0) return;
  await trx.raw(
    `UPDATE transfers t SET status = 'confirmed', confirmed_at = now(), flag = v.flag, confirmations = v.confirmations
       FROM jsonb_to_recordset(?::jsonb) AS v(id text, flag text, confirmations int) WHERE t.id = v.id`,
    [
      JSON.stringify(
        batch.map((transfer) => ({ id: transfer.id, flag: flags.get(transfer.id) ?? null, confirmations: confirmations(BigInt(transfer.block_number)) })),
      ),
    ],
  );
}
