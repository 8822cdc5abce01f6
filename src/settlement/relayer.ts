/**
 * The relayer sender: the one place a relayer transaction is signed and sent. Flushes and
 * statement anchors do not send anything themselves; they queue a transaction here
 * ({@link enqueueRelayerTransaction}) and later read what became of it.
 *
 * One pass ({@link relayerOnce}), run by one leader-elected worker:
 * 1. **Follow** what is in flight, lowest nonce first. A version that was mined makes the
 *    transaction `mined` (or `reverted`). A nonce the chain has used for something else marks it
 *    `failed`. A version the node has not seen is broadcast again. One waiting longer than
 *    `replaceAfterMs` is replaced at the same nonce with fees at least 12.5 % higher (nodes ask for
 *    10 %), so a transaction priced out of a busy chain does not stall every one after it.
 * 2. **Send** what is queued, oldest first. Each gets the next nonce (the higher of the chain's
 *    pending count and one past the highest in flight), a gas limit from an estimate
 *    (an estimate that fails means the call would revert: the transaction is `failed` and uses no
 *    nonce), and current fees. It is signed and **recorded before it is broadcast**, so a crash
 *    in between leaves a signed transaction the next pass broadcasts, never a nonce the gateway
 *    forgot. The database allows one transaction in flight per nonce (a unique index).
 *
 * Nothing here waits for the chain inside a database transaction: every write is a short
 * statement, and receipts are looked for on the next pass.
 */
import { type Address, type Hex, keccak256, type LocalAccount } from 'viem';
import type { ChainClient } from '../chain/client.js';
import { storedAddress } from '../domain/address.js';
import type { Db, Trx } from '../platform/db.js';
import { failpoint } from '../platform/failpoints.js';
import { newId } from '../platform/ids.js';
import { errorSummary, type Logger } from '../platform/log.js';
import { withTransaction } from '../platform/transaction.js';

export type RelayerPurpose = 'flush' | 'anchor';
export type RelayerTransactionStatus = 'queued' | 'signed' | 'sent' | 'mined' | 'reverted' | 'failed';

export interface RelayerTransactionRow {
  id: string;
  chain_id: number;
  from_address: string;
  purpose: RelayerPurpose;
  to_address: string;
  data: Hex;
  status: RelayerTransactionStatus;
  nonce: string | null;
  gas_limit: string | null;
  max_fee_per_gas: string | null;
  max_priority_fee_per_gas: string | null;
  raw_transaction: Hex | null;
  tx_hash: Hex | null;
  tx_hashes: Hex[];
  replacements: number;
  block_number: string | null;
  gas_used: string | null;
  last_error: string | null;
  sent_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Whether the transaction is over: nothing more will happen to it. */
export function isSettled(row: Pick<RelayerTransactionRow, 'status'>): boolean {
  return row.status === 'mined' || row.status === 'reverted' || row.status === 'failed';
}

export interface RelayerTransactionRequest {
  chainId: number;
  /** The relayer's address: the sender of every relayer transaction. */
  from: Address;
  purpose: RelayerPurpose;
  to: Address;
  data: Hex;
}

/** Queues a transaction for the sender, inside the caller's transaction; returns its row (`rtx_…`). */
export async function enqueueRelayerTransaction(trx: Trx | Db, request: RelayerTransactionRequest): Promise<RelayerTransactionRow> {
  const [row] = (await trx('relayer_transactions')
    .insert({
      id: newId('rtx'),
      chain_id: request.chainId,
      from_address: storedAddress(request.from),
      purpose: request.purpose,
      to_address: storedAddress(request.to),
      data: request.data,
      status: 'queued',
    })
    .returning('*')) as RelayerTransactionRow[];
  return row!;
}

/** The transactions with these ids, by id. */
export async function relayerTransactions(db: Db | Trx, ids: readonly string[]): Promise<Map<string, RelayerTransactionRow>> {
  if (ids.length === 0) return new Map();
  const rows = (await db('relayer_transactions').whereIn('id', [...new Set(ids)])) as RelayerTransactionRow[];
  return new Map(rows.map((row) => [row.id, row]));
}

export interface RelayerDeps {
  db: Db;
  chain: ChainClient;
  chainId: number;
  /** The relayer's key; nothing else signs relayer transactions. */
  account: LocalAccount;
  logger: Logger;
  /** How long a sent transaction may wait to be mined before it is replaced with higher fees. */
  replaceAfterMs: number;
  /** Most queued transactions sent per pass. */
  sendBatch?: number;
}

export interface RelayerPassResult {
  sent: number;
  mined: number;
  reverted: number;
  replaced: number;
  failed: number;
}

/** Gas limit = estimate × 1.2: room for state that changes between estimate and inclusion. */
const GAS_HEADROOM_PERCENT = 120n;
/** A replacement pays at least this much more (per mille): nodes refuse less than +10 %. */
const REPLACEMENT_BUMP_PER_MILLE = 1125n;

/** One pass: follow what is in flight, then send what is queued. */
export async function relayerOnce(deps: RelayerDeps): Promise<RelayerPassResult> {
  const result: RelayerPassResult = { sent: 0, mined: 0, reverted: 0, replaced: 0, failed: 0 };
  await followInFlight(deps, result);
  await sendQueued(deps, result);
  return result;
}

function fromAddress(deps: RelayerDeps): string {
  return storedAddress(deps.account.address);
}

async function followInFlight(deps: RelayerDeps, result: RelayerPassResult): Promise<void> {
  // Read before the receipts: a nonce counted here and no receipt for any of our versions after
  // means another transaction took it.
  const usedNonces = BigInt(await deps.chain.getTransactionCount({ address: deps.account.address, blockTag: 'latest' }));
  await reopenReorged(deps, usedNonces);
  const inFlight = (await deps
    .db('relayer_transactions')
    .where({ chain_id: deps.chainId, from_address: fromAddress(deps) })
    .whereIn('status', ['signed', 'sent'])
    .orderBy('nonce')) as RelayerTransactionRow[];
  if (inFlight.length === 0) return;
  for (const row of inFlight) {
    const receipt = await firstReceipt(deps, row.tx_hashes);
    if (receipt) {
      const status = receipt.status === 'success' ? 'mined' : 'reverted';
      await update(deps.db, row.id, {
        status,
        tx_hash: receipt.transactionHash,
        block_number: receipt.blockNumber.toString(),
        gas_used: receipt.gasUsed.toString(),
        last_error: status === 'reverted' ? `reverted in ${receipt.transactionHash}` : null,
      });
      result[status] += 1;
      deps.logger.info({ relayer_tx: row.id, purpose: row.purpose, tx_hash: receipt.transactionHash, status }, 'relayer transaction mined');
      continue;
    }
    if (BigInt(row.nonce!) < usedNonces) {
      await update(deps.db, row.id, { status: 'failed', last_error: `nonce ${row.nonce} was used by another transaction of the relayer's key` });
      result.failed += 1;
      deps.logger.warn({ relayer_tx: row.id, nonce: row.nonce }, 'relayer nonce taken by another transaction');
      continue;
    }
    const waitedMs = row.sent_at === null ? Number.POSITIVE_INFINITY : Date.now() - row.sent_at.getTime();
    if (row.status === 'sent' && waitedMs >= deps.replaceAfterMs) {
      await replace(deps, row);
      result.replaced += 1;
      continue;
    }
    // Signed but maybe never broadcast (a crash, a node that did not answer), or dropped by the
    // node: broadcasting the same bytes again is harmless.
    await broadcast(deps, row.id, row.raw_transaction!, row.status === 'signed');
  }
}

/**
 * A transaction recorded as mined (or reverted) whose nonce the chain no longer counts was mined
 * in a block a reorg took away. It is in flight again: its signed bytes are broadcast again, and
 * until then every later nonce waits behind the gap it left. Without this, its record would say
 * mined forever and the relayer's later transactions would never be mined.
 */
async function reopenReorged(deps: RelayerDeps, usedNonces: bigint): Promise<void> {
  const reopened = (await deps
    .db('relayer_transactions')
    .where({ chain_id: deps.chainId, from_address: fromAddress(deps) })
    .whereIn('status', ['mined', 'reverted'])
    .where('nonce', '>=', usedNonces.toString())
    .update({
      status: 'sent',
      block_number: null,
      gas_used: null,
      sent_at: new Date(),
      last_error: 'its block was taken away by a reorg: sent again',
      updated_at: deps.db.fn.now(),
    })
    .returning(['id', 'nonce', 'purpose'])) as { id: string; nonce: string; purpose: string }[];
  for (const row of reopened) {
    deps.logger.warn({ relayer_tx: row.id, nonce: row.nonce, purpose: row.purpose }, 'relayer transaction reorged out of the chain: sending it again');
  }
}

async function firstReceipt(deps: RelayerDeps, hashes: readonly Hex[]) {
  for (const hash of hashes) {
    const receipt = await deps.chain.getTransactionReceipt({ hash }).catch((error: unknown) => {
      if ((error as { name?: string }).name === 'TransactionReceiptNotFoundError') return undefined;
      throw error;
    });
    if (receipt) return receipt;
  }
  return undefined;
}

/** Signs the same transaction at the same nonce with higher fees, records it, then broadcasts it. */
async function replace(deps: RelayerDeps, row: RelayerTransactionRow): Promise<void> {
  const current = await deps.chain.estimateFeesPerGas();
  const bump = (value: string) => (BigInt(value) * REPLACEMENT_BUMP_PER_MILLE + 999n) / 1000n;
  const maxPriorityFeePerGas = max(bump(row.max_priority_fee_per_gas!), current.maxPriorityFeePerGas);
  const maxFeePerGas = max(bump(row.max_fee_per_gas!), current.maxFeePerGas, maxPriorityFeePerGas);
  const raw = await sign(deps, row, BigInt(row.nonce!), BigInt(row.gas_limit!), maxFeePerGas, maxPriorityFeePerGas);
  const hash = keccak256(raw);
  await update(deps.db, row.id, {
    raw_transaction: raw,
    tx_hash: hash,
    tx_hashes: JSON.stringify([...row.tx_hashes, hash]),
    max_fee_per_gas: maxFeePerGas.toString(),
    max_priority_fee_per_gas: maxPriorityFeePerGas.toString(),
    replacements: row.replacements + 1,
  });
  deps.logger.warn(
    { relayer_tx: row.id, nonce: row.nonce, tx_hash: hash, max_fee_per_gas: maxFeePerGas.toString() },
    'relayer transaction replaced with higher fees',
  );
  await broadcast(deps, row.id, raw, true);
}

async function sendQueued(deps: RelayerDeps, result: RelayerPassResult): Promise<void> {
  const queued = (await deps
    .db('relayer_transactions')
    .where({ chain_id: deps.chainId, from_address: fromAddress(deps), status: 'queued' })
    .orderBy('created_at')
    .limit(deps.sendBatch ?? 16)) as RelayerTransactionRow[];
  for (const row of queued) {
    let gas: bigint;
    try {
      gas = await deps.chain.estimateGas({ account: deps.account.address, to: row.to_address as Address, data: row.data });
    } catch (error) {
      // It would revert now: never sent, no nonce used. Whoever queued it decides what next.
      await update(deps.db, row.id, { status: 'failed', last_error: errorSummary(error).message });
      result.failed += 1;
      continue;
    }
    const fees = await deps.chain.estimateFeesPerGas();
    const gasLimit = (gas * GAS_HEADROOM_PERCENT) / 100n;
    const signed = await withTransaction(deps.db, async (trx) => {
      // Nonces are handed out one sender at a time, even if two processes ever ran this.
      await trx.raw(`SELECT pg_advisory_xact_lock(hashtext('clinicpay.relayer_nonce'), ?)`, [deps.chainId]);
      const claimed = (await trx('relayer_transactions').where({ id: row.id, status: 'queued' }).forUpdate().first()) as RelayerTransactionRow | undefined;
      if (!claimed) return undefined;
      const nonce = await nextNonce(deps, trx);
      const raw = await sign(deps, row, nonce, gasLimit, fees.maxFeePerGas, fees.maxPriorityFeePerGas);
      const hash = keccak256(raw);
      await trx('relayer_transactions')
        .where({ id: row.id })
        .update({
          status: 'signed',
          nonce: nonce.toString(),
          gas_limit: gasLimit.toString(),
          max_fee_per_gas: fees.maxFeePerGas.toString(),
          max_priority_fee_per_gas: fees.maxPriorityFeePerGas.toString(),
          raw_transaction: raw,
          tx_hash: hash,
          tx_hashes: JSON.stringify([hash]),
          updated_at: trx.fn.now(),
        });
      return { raw, nonce, hash };
    });
    if (!signed) continue;
    // Recorded first, broadcast after: a crash here leaves a signed transaction the next pass sends.
    if (await broadcast(deps, row.id, signed.raw, true)) result.sent += 1;
    deps.logger.info({ relayer_tx: row.id, purpose: row.purpose, nonce: signed.nonce.toString(), tx_hash: signed.hash }, 'relayer transaction sent');
  }
}

/**
 * The higher of the chain's pending count and one past the highest nonce in flight. Mined
 * transactions do not count: the chain's count already covers them, and one a reorg dropped has
 * given its nonce back.
 */
async function nextNonce(deps: RelayerDeps, trx: Trx): Promise<bigint> {
  const pending = BigInt(await deps.chain.getTransactionCount({ address: deps.account.address, blockTag: 'pending' }));
  const recorded = (await trx('relayer_transactions')
    .where({ chain_id: deps.chainId, from_address: fromAddress(deps) })
    .whereIn('status', ['signed', 'sent'])
    .max({ highest: 'nonce' })
    .first()) as { highest: string | null };
  const afterRecorded = recorded.highest === null ? 0n : BigInt(recorded.highest) + 1n;
  return max(pending, afterRecorded);
}

function sign(deps: RelayerDeps, row: RelayerTransactionRow, nonce: bigint, gas: bigint, maxFeePerGas: bigint, maxPriorityFeePerGas: bigint): Promise<Hex> {
  return deps.account.signTransaction({
    type: 'eip1559',
    chainId: deps.chainId,
    nonce: Number(nonce),
    to: row.to_address as Address,
    data: row.data,
    gas,
    maxFeePerGas,
    maxPriorityFeePerGas,
    value: 0n,
  });
}

/** Broadcasts `raw`; `true` when the node took it (or already had it). Failures are left for the next pass. */
async function broadcast(deps: RelayerDeps, id: string, raw: Hex, markSent: boolean): Promise<boolean> {
  try {
    await deps.chain.sendRawTransaction({ serializedTransaction: raw });
  } catch (error) {
    const message = errorSummary(error).message;
    if (!/already known|known transaction|nonce too low/i.test(message)) {
      await update(deps.db, id, { last_error: message });
      deps.logger.warn({ relayer_tx: id, err: errorSummary(error) }, 'relayer transaction not broadcast; trying again next pass');
      return false;
    }
  }
  failpoint('relayer.after_broadcast');
  if (markSent) await update(deps.db, id, { status: 'sent', sent_at: new Date(), last_error: null });
  return true;
}

async function update(db: Db, id: string, changes: Record<string, unknown>): Promise<void> {
  await db('relayer_transactions')
    .where({ id })
    .update({ ...changes, updated_at: db.fn.now() });
}

function max(...values: bigint[]): bigint {
  return values.reduce((a, b) => (a > b ? a : b));
}
