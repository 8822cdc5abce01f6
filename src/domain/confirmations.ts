/**
 * How deep a transfer is buried: what the watcher records when it posts a transfer, and what
 * the API and the patient's page show while one is being confirmed.
 */

/**
 * Confirmations of a transfer in `blockNumber` when the chain head is `head` (the block itself
 * counts as one); 0 when the head is unknown or below the block.
 *
 * @example confirmationsAt(100n, 102n) // 3
 */
export function confirmationsAt(blockNumber: bigint, head: bigint | undefined): number {
  return head === undefined || head < blockNumber ? 0 : Number(head - blockNumber + 1n);
}
