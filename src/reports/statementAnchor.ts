/**
 * Anchoring a statement's Merkle root on the chain: the relayer sends a transaction to itself
 * whose data is the ASCII tag `clinicpay:statement:v1:` and the 32-byte root. Anyone can then
 * read the root back from the chain, with the block that dates it, without trusting the
 * gateway — the verifier does (`npx clinicpay verify statement.json --rpc <url>`).
 *
 * The transaction is sent inside the anchoring request's database transaction (the request
 * waits for the receipt anyway); two concurrent requests may both send one, and the first
 * recorded wins.
 */
import { concat, getAddress, type Hex, toHex } from 'viem';
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { ChainClient } from '../chain/client.js';
import type { Trx } from '../platform/db.js';
import type { SendingWallet } from '../settlement/depositFactory.js';
import { AnchoringDisabledError } from './errors.js';
import { anchorOf, type StatementRow } from './statement.js';
import type { StatementAnchor } from './statementDocument.js';

export const ANCHOR_TAG = 'clinicpay:statement:v1:';

/** The transaction data that anchors `merkleRoot` (64 hex digits). */
export function anchorCalldata(merkleRoot: string): Hex {
  return concat([toHex(ANCHOR_TAG), `0x${merkleRoot}`]);
}

/** What anchoring needs: the relayer's wallet and a client to wait for the receipt. */
export interface StatementAnchorer {
  chainId: number;
  wallet: SendingWallet;
  chain: ChainClient;
}

/** Anchors `row`'s root (it must be sealed) once; anchoring again returns the first anchor. */
export async function anchorStatement(trx: Trx, anchorer: StatementAnchorer | undefined, row: StatementRow, actor: AuditActor): Promise<StatementAnchor> {
  const existing = anchorOf(row);
  if (existing) return existing;
  if (!anchorer) throw new AnchoringDisabledError();
  if (row.merkle_root === null) throw new Error(`statement ${row.id} has no root to anchor`);
  const hash = await anchorer.wallet.sendTransaction({
    to: anchorer.wallet.account.address,
    data: anchorCalldata(row.merkle_root),
    chain: anchorer.wallet.chain ?? null,
  });
  const receipt = await anchorer.chain.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`anchor transaction ${hash} reverted`);
  const anchor: StatementAnchor = {
    chain_id: anchorer.chainId,
    tx_hash: hash.toLowerCase(),
    block_number: receipt.blockNumber.toString(),
    from_address: getAddress(anchorer.wallet.account.address),
  };
  const updated = await trx('statements').where({ id: row.id }).whereNull('anchor_tx_hash').update({
    anchor_chain_id: anchor.chain_id,
    anchor_tx_hash: anchor.tx_hash,
    anchor_block_number: anchor.block_number,
    anchor_from_address: anchor.from_address.toLowerCase(),
  });
  if (updated === 0) {
    const [first] = (await trx('statements').where({ id: row.id })) as StatementRow[];
    return anchorOf(first!)!;
  }
  await appendAudit(trx, actor, [
    { action: 'statement.anchored', target: { type: 'statement', id: row.id }, clinicId: row.clinic_id, after: { merkle_root: row.merkle_root, ...anchor } },
  ]);
  return anchor;
}
