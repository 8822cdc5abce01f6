/**
 * The block hashes the watcher has seen (`chain_blocks`), and reorg detection against them: a
 * stored hash the chain no longer has at that height is a reorg, found by comparison, never
 * guessed.
 */
import { BlockNotFoundError } from 'viem';
import type { Db, Trx } from '../platform/db.js';
import { planted } from '../platform/failpoints.js';
import type { Logger } from '../platform/log.js';
import { inPool } from './balances.js';
import type { ChainClient } from './client.js';

/** How many stored block hashes a reorg check walks down per round trip. */
const REORG_SEARCH_WINDOW = 256;
/** Headers remembered per chain client: a pass's blocks, and the final blocks of the next passes. */
const HEADER_CACHE_SIZE = 256;
/** `eth_getBlockByNumber` requests in flight at once: a range with logs in every block does not crowd the node. */
const HEADER_CONCURRENCY = 8;

export interface StoredBlock {
  number: bigint;
  hash: string;
  timestamp: Date;
}

export interface BlocksDeps {
  db: Db;
  chain: ChainClient;
  chainId: number;
  logger: Logger;
}

/**
 * Block headers read lately, by number, per chain client (least recently used first). A header
 * is served from here only where a stale one cannot mislead: for a block whose hash the caller
 * already has from a log of it, or for the time of a final block. The hashes the reorg check
 * compares, and the hash of the block a pass stops at, are always asked of the node; a reorg
 * forgets everything above its fork point.
 */
const headerCaches = new WeakMap<ChainClient, Map<bigint, StoredBlock>>();

function headerCache(chain: ChainClient): Map<bigint, StoredBlock> {
  let cache = headerCaches.get(chain);
  if (!cache) {
    cache = new Map();
    headerCaches.set(chain, cache);
  }
  return cache;
}

/** Keeps `header` as the latest word on its block number. */
export function rememberHeader(chain: ChainClient, header: StoredBlock): void {
  const cache = headerCache(chain);
  cache.delete(header.number);
  cache.set(header.number, header);
  if (cache.size > HEADER_CACHE_SIZE) cache.delete(cache.keys().next().value!);
}

/** Forgets the headers above `forkPoint`: after a reorg they are not the chain's any more. */
export function forgetHeadersAbove(chain: ChainClient, forkPoint: bigint): void {
  const cache = headerCache(chain);
  for (const number of [...cache.keys()]) if (number > forkPoint) cache.delete(number);
}

/** The header of block `number` as the node has it now (and remembered). */
export async function fetchHeader(chain: ChainClient, number: bigint): Promise<StoredBlock> {
  const block = await chain.getBlock({ blockNumber: number });
  const header = { number, hash: block.hash, timestamp: new Date(Number(block.timestamp) * 1000) };
  rememberHeader(chain, header);
  return header;
}

/**
 * The headers of `wanted` blocks: from memory where it has the block with the expected `hash`
 * (or any hash, for a block that is final), from the node for the rest, a few at a time.
 */
export async function blockHeaders(chain: ChainClient, wanted: readonly { number: bigint; hash?: string | undefined }[]): Promise<Map<bigint, StoredBlock>> {
  const cache = headerCache(chain);
  const headers = new Map<bigint, StoredBlock>();
  const missing: bigint[] = [];
  for (const { number, hash } of wanted) {
    const known = cache.get(number);
    if (known && (hash === undefined || known.hash === hash)) {
      rememberHeader(chain, known);
      headers.set(number, known);
    } else if (!headers.has(number)) missing.push(number);
  }
  await inPool([...new Set(missing)], HEADER_CONCURRENCY, async (number) => {
    headers.set(number, await fetchHeader(chain, number));
  });
  return headers;
}

/** Stores (or, after a reorg, replaces) the hashes and times of `blocks`. */
export async function storeBlocks(trx: Trx, chainId: number, blocks: readonly StoredBlock[]): Promise<void> {
  if (blocks.length === 0) return;
  await trx('chain_blocks')
    .insert(blocks.map((block) => ({ chain_id: chainId, number: block.number.toString(), hash: block.hash, timestamp: block.timestamp })))
    .onConflict(['chain_id', 'number'])
    .merge(['hash', 'timestamp']);
}

/** Forgets every stored block above `forkPoint` (they are not on the chain any more). */
export async function forgetBlocksAbove(trx: Trx, chainId: number, forkPoint: bigint): Promise<void> {
  await trx('chain_blocks').where({ chain_id: chainId }).where('number', '>', forkPoint.toString()).del();
}

/** The lowest block whose hash is stored: where the watcher started reading. */
export async function firstStoredBlock(db: Db | Trx, chainId: number): Promise<bigint | undefined> {
  const first = (await db('chain_blocks').where({ chain_id: chainId }).min('number as number').first()) as { number: string | null } | undefined;
  return first?.number != null ? BigInt(first.number) : undefined;
}

/** Stores the hash of the block the watcher starts after, so a reorg below its first pass is seen too. */
export async function anchorStartBlock(deps: BlocksDeps, cursor: bigint): Promise<void> {
  if ((await firstStoredBlock(deps.db, deps.chainId)) !== undefined) return;
  const block = await fetchHeader(deps.chain, cursor);
  await deps
    .db('chain_blocks')
    .insert({ chain_id: deps.chainId, number: cursor.toString(), hash: block.hash, timestamp: block.timestamp })
    .onConflict(['chain_id', 'number'])
    .ignore();
}

/**
 * The node has not got blocks the watcher has already read: it is behind (a lagging node behind
 * a load balancer, or one restarting). Not evidence of a reorg: the pass stops and is retried.
 */
export class NodeBehindError extends Error {
  override name = 'NodeBehindError';
  constructor(readonly missingBlock: bigint) {
    super(`the RPC node has no block ${missingBlock} yet, which the watcher has already read; waiting for it to catch up`);
  }
}

/**
 * The newest stored block at or below `cursor` whose hash the chain still has; `cursor` itself
 * when nothing changed. Only a hash that differs is evidence of a reorg: a block the node does
 * not have (yet) says nothing, so a node that is merely behind fails the pass with
 * {@link NodeBehindError} instead of rolling anything back; any other RPC failure fails it too.
 * Walks every stored block if it must: the first pass stores the start block's hash, and nothing
 * below the start was ever read, so "below every stored block" is a safe place to roll back to.
 */
export async function findForkPoint(deps: BlocksDeps, cursor: bigint): Promise<bigint> {
  // A planted bug for the fault simulator: no reorg is ever seen.
  if (planted('skip_reorg_hash_check')) return cursor;
  let below = cursor + 1n;
  let mismatch = false;
  let missing: bigint | undefined;
  for (;;) {
    const stored = (await deps
      .db('chain_blocks')
      .where({ chain_id: deps.chainId })
      .where('number', '<', below.toString())
      .orderBy('number', 'desc')
      .limit(REORG_SEARCH_WINDOW)
      .select('number', 'hash')) as { number: string; hash: string }[];
    if (stored.length === 0) {
      if (!mismatch) {
        if (missing !== undefined) throw new NodeBehindError(missing);
        return cursor;
      }
      deps.logger.error({ chain_id: deps.chainId }, 'reorg below every stored block: rolling back to before the first one');
      return below - 1n;
    }
    for (const block of stored) {
      const number = BigInt(block.number);
      const onChain = await canonicalHash(deps.chain, number);
      if (onChain === undefined) {
        missing ??= number;
        continue;
      }
      if (onChain === block.hash) {
        if (mismatch) return number;
        if (missing !== undefined) throw new NodeBehindError(missing);
        return cursor;
      }
      mismatch = true;
    }
    below = BigInt(stored[stored.length - 1]!.number);
  }
}

/** The hash the chain has at `number`, or `undefined` when the node has no such block. Other failures throw. */
async function canonicalHash(chain: ChainClient, number: bigint): Promise<string | undefined> {
  try {
    return (await fetchHeader(chain, number)).hash;
  } catch (error) {
    if (error instanceof BlockNotFoundError) return undefined;
    throw error;
  }
}
