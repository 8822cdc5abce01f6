/**
 * Anchoring a statement's Merkle root on the chain: the relayer sends a transaction to itself
 * whose data is the ASCII tag `clinicpay:statement:v1:` and the 32-byte root. Anyone can then
 * read the root back from the chain, with the block that dates it, without trusting the
 * gateway — the verifier does (`npx clinicpay verify statement.json --rpc <url>`).
 *
 * A request queues the transaction with the relayer sender (settlement/relayer.ts) and answers
 * at once; nothing waits for the chain inside a database transaction. Once the sender has seen
 * it mined, {@link completeAnchors} (run by the sender's worker) records the anchor, and a later
 * request answers with it. A statement has at most one anchoring transaction under way.
 */
import { type Address, getAddress } from 'viem';
import { type AuditActor, appendAudit, SYSTEM } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { withTransaction } from '../platform/transaction.js';
import { enqueueRelayerTransaction, isSettled, type RelayerTransactionRow, relayerTransactions } from '../settlement/relayer.js';
import { ANCHOR_TAG, anchorCalldata } from './anchorCalldata.js';
import { AnchoringDisabledError } from './errors.js';
import { anchorOf, type StatementRow } from './statement.js';
import type { StatementAnchor } from './statementDocument.js';

export { ANCHOR_TAG, anchorCalldata };

/** What anchoring needs: the chain and the relayer's address, which sends the anchor to itself. */
export interface StatementAnchorer {
  chainId: number;
  relayer: Address;
}

export type AnchorRequest = { status: 'anchored'; anchor: StatementAnchor } | { status: 'pending'; relayerTransactionId: string };

/**
 * Anchors `row`'s root (it must be sealed): answers the anchor once there is one, and otherwise
 * queues the transaction (again only if an earlier one failed) and answers that it is pending.
 */
export async function requestAnchor(trx: Trx, anchorer: StatementAnchorer | undefined, statementId: string, actor: AuditActor): Promise<AnchorRequest> {
  // Locked: two requests for one statement queue one transaction between them.
  const row = (await trx('statements').where({ id: statementId }).forUpdate().first()) as StatementRow;
  const existing = anchorOf(row);
  if (existing) return { status: 'anchored', anchor: existing };
  if (!anchorer) throw new AnchoringDisabledError();
  if (row.merkle_root === null) throw new Error(`statement ${row.id} has no root to anchor`);
  if (row.anchor_relayer_tx_id !== null) {
    const transaction = (await relayerTransactions(trx, [row.anchor_relayer_tx_id])).get(row.anchor_relayer_tx_id)!;
    if (transaction.status === 'mined') return { status: 'anchored', anchor: await recordAnchor(trx, row, transaction, actor) };
    if (!isSettled(transaction)) return { status: 'pending', relayerTransactionId: transaction.id };
    // Reverted or never sent: ask again.
  }
  const transaction = await enqueueRelayerTransaction(trx, {
    chainId: anchorer.chainId,
    from: anchorer.relayer,
    purpose: 'anchor',
    to: anchorer.relayer,
    data: anchorCalldata(row.merkle_root),
  });
  await trx('statements').where({ id: row.id }).update({ anchor_relayer_tx_id: transaction.id });
  await appendAudit(trx, actor, [
    {
      action: 'statement.anchor_requested',
      target: { type: 'statement', id: row.id },
      clinicId: row.clinic_id,
      after: { merkle_root: row.merkle_root, relayer_transaction_id: transaction.id },
    },
  ]);
  return { status: 'pending', relayerTransactionId: transaction.id };
}

/** Records the anchors whose transactions the relayer has seen mined; returns how many. */
export async function completeAnchors(db: Db): Promise<number> {
  const rows = (await db('statements')
    .join('relayer_transactions', 'relayer_transactions.id', 'statements.anchor_relayer_tx_id')
    .whereNull('statements.anchor_tx_hash')
    .where('relayer_transactions.status', 'mined')
    .select('statements.id')) as { id: string }[];
  let recorded = 0;
  for (const { id } of rows) {
    await withTransaction(db, async (trx) => {
      const row = (await trx('statements').where({ id }).forUpdate().first()) as StatementRow;
      if (anchorOf(row) || row.anchor_relayer_tx_id === null) return;
      const transaction = (await relayerTransactions(trx, [row.anchor_relayer_tx_id])).get(row.anchor_relayer_tx_id)!;
      await recordAnchor(trx, row, transaction, SYSTEM.relayer);
      recorded += 1;
    });
  }
  return recorded;
}

async function recordAnchor(trx: Trx, row: StatementRow, transaction: RelayerTransactionRow, actor: AuditActor): Promise<StatementAnchor> {
  const anchor: StatementAnchor = {
    chain_id: transaction.chain_id,
    tx_hash: transaction.tx_hash!.toLowerCase(),
    block_number: String(transaction.block_number),
    from_address: getAddress(transaction.from_address),
  };
  await trx('statements').where({ id: row.id }).update({
    anchor_chain_id: anchor.chain_id,
    anchor_tx_hash: anchor.tx_hash,
    anchor_block_number: anchor.block_number,
    anchor_from_address: anchor.from_address.toLowerCase(),
  });
  await appendAudit(trx, actor, [
    { action: 'statement.anchored', target: { type: 'statement', id: row.id }, clinicId: row.clinic_id, after: { merkle_root: row.merkle_root, ...anchor } },
  ]);
  return anchor;
}
