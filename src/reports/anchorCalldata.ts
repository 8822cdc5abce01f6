/**
 * The data of a statement's anchoring transaction: the ASCII tag `clinicpay:statement:v1:` and
 * the 32-byte root. Kept apart from the anchoring itself (statementAnchor.ts, which queues
 * transactions in the database) so the verifier, which only reads it, runs in a browser too.
 */
import { concat, type Hex, toHex } from 'viem';

export const ANCHOR_TAG = 'clinicpay:statement:v1:';

/** The transaction data that anchors `merkleRoot` (64 hex digits). */
export function anchorCalldata(merkleRoot: string): Hex {
  return concat([toHex(ANCHOR_TAG), `0x${merkleRoot}`]);
}
