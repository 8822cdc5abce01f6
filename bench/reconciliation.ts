/**
 * Reconciliation: one full run (`startReconciliation` + `executeReconciliation`) over the block
 * range of N confirmed payments, next to the raw fetch of the same logs measured in the same run
 * on the same machine:
 *
 * - **raw fetch**: viem `getLogs` of the token's `Transfer` event over the same range, in the
 *   same chunks the run reads it in (`maxBlockRange`), decoded, nothing else. A request that is
 *   refused is split in halves by the same rule as `fetchTransferLogs`: viem refuses a response
 *   over 10 MiB (about 16,000 Transfer logs), so a range with more logs than that is fetched in
 *   pieces — after the full download that was refused — by the run and the baseline alike.
 *
 *   npx tsx bench/reconciliation.ts     (BENCH_RECON_TRANSFERS=100000 by default; about 5 minutes of set-up on two cores)
 *   npm run bench -- reconciliation
 *
 * Set-up (not timed in the figures, but each step's time is printed): a private Postgres with
 * normal durability (fsync and synchronous commit on) and anvil; the token and factory; a few
 * clinics; N invoices (built by `prepareInvoice`, written in multi-row INSERTs); one exact
 * payment into each deposit address, from several payers with explicit nonces while anvil does
 * not automine, `BENCH_RECON_PER_BLOCK` to a block; then the real watcher (`syncOnce` in a loop)
 * until the ledger holds every payment confirmed. The payers are impersonated on anvil and the
 * payments sent as unsigned `eth_sendTransaction` calls in JSON-RPC batches: signing 100k
 * transactions in JavaScript costs about 1 ms each, which would add minutes to the set-up and
 * change nothing that is measured (the logs are the same).
 *
 * Then, `BENCH_RECON_ROUNDS` times, alternately: the raw fetch, then a reconciliation run over
 * exactly the payments' range; the figures are medians over the rounds. A run that is not
 * `completed`, does not match every one of the N transfers, or reports any exception (every
 * payment is exact, on time, and no wallet moved) is an error, not a figure. The issue sets no
 * goal for this benchmark; the ratio is reported, not judged.
 */
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import {
  type Address,
  createPublicClient,
  encodeFunctionData,
  erc20Abi,
  getAbiItem,
  http,
  multicall3Abi,
  numberToHex,
  parseGwei,
  toFunctionSelector,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { type InvoiceRow, prepareInvoice } from '../src/billing/invoices.js';
import { MULTICALL_BATCH } from '../src/chain/balances.js';
import { type ChainClient, createChainClient } from '../src/chain/client.js';
import { initCursor } from '../src/chain/cursor.js';
import type { PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { TRANSFER_EVENT } from '../src/chain/transferLogs.js';
import type { Db } from '../src/platform/db.js';
import { createLogger } from '../src/platform/log.js';
import { withTransaction } from '../src/platform/transaction.js';
import { executeReconciliation, type ReconciliationDeps, type RunRow, startReconciliation } from '../src/recon/runs.js';
import { syncOnce } from '../src/settlement/watcher.js';
import { BenchStack, createBenchClinic } from './benchStack.js';

/** The size the goal is set at. */
const ISSUE_TRANSFERS = 100_000;
/** A run may take at most this many times the raw fetch of the same logs. */
const GOAL_RATIO = 3;
/**
 * The default is the goal's size; set-up (100,000 invoices paid and ingested by the watcher)
 * takes about four minutes on two cores, so BENCH_RECON_TRANSFERS=15000 is handy while working.
 * The watcher and the run write in batches below Postgres's 65,535 bind parameters, and journal
 * entries are indexed by invoice. The run reads the balance
 * of every deposit address at a past block through Multicall3 (placed on the bench's anvil at
 * its canonical address, as on most chains), 500 to an `eth_call`; one call per balance, as
 * without it, took about 2–3 ms each on anvil. The table says how each run read them, and the
 * tally where the time went. Before the tables are analyzed the planner may scan
 * every deposits posting per invoice, so set-up ends with an ANALYZE, as autovacuum would have
 * done by the time anyone reconciles, and every round sees the same plan.
 */
const DEFAULT_TRANSFERS = ISSUE_TRANSFERS;
const TRANSFERS = positiveInteger('BENCH_RECON_TRANSFERS', DEFAULT_TRANSFERS);
const ROUNDS = positiveInteger('BENCH_RECON_ROUNDS', 2);
/** The run's (and the watcher's) widest eth_getLogs range: the gateway's default (MAX_BLOCK_RANGE). */
const MAX_BLOCK_RANGE = BigInt(positiveInteger('BENCH_MAX_BLOCK_RANGE', 2000));
/** Payments mined per block. */
const PER_BLOCK = positiveInteger('BENCH_RECON_PER_BLOCK', 2000);
/** The dev chain's default confirmation depth. */
const CONFIRMATIONS = 3;
const CLINICS = 4;
const PAYERS = 16;
const DATABASE = 'clinicpay_bench_recon';
/** Generous for an ERC-20 transfer to a fresh address (about 52,000). */
const TRANSFER_GAS = 90_000n;
/** Invoices built (and their number taken) concurrently, and rows per INSERT (29 columns: well under 65,535 parameters). */
const INVOICE_BATCH = 1000;
/** JSON-RPC requests per HTTP batch when sending payments. */
const RPC_BATCH = 500;
/** Invoices stay open long past the run: a late payment would be an exception. */
const EXPIRY_MINUTES = 7 * 24 * 60;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** One JSON-RPC batch; throws on the first error in it. Results in the order of `calls`. */
async function rpcBatch(rpcUrl: string, calls: readonly { method: string; params: unknown[] }[]): Promise<unknown[]> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(calls.map((call, id) => ({ jsonrpc: '2.0', id, method: call.method, params: call.params }))),
  });
  if (!response.ok) throw new Error(`JSON-RPC batch failed with HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
  const replies = (await response.json()) as { id: number; result?: unknown; error?: { message: string } }[];
  if (!Array.isArray(replies) || replies.length !== calls.length)
    throw new Error(`JSON-RPC batch of ${calls.length} answered with ${Array.isArray(replies) ? replies.length : 'no'} replies`);
  const results: unknown[] = new Array(calls.length);
  for (const reply of replies) {
    if (reply.error) throw new Error(`${calls[reply.id]?.method} failed: ${reply.error.message}`);
    results[reply.id] = reply.result;
  }
  return results;
}

async function rpc(rpcUrl: string, method: string, params: unknown[] = []): Promise<unknown> {
  return (await rpcBatch(rpcUrl, [{ method, params }]))[0];
}

/** An error's message, cut in the middle when long: a failed query's message starts with all its SQL and ends with the reason. */
function shortened(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length <= 1000 ? message : `${message.slice(0, 400)} … ${message.slice(-400)}`;
}

/** Elapsed milliseconds of `f`, and its result. */
async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await f();
  return [result, performance.now() - started];
}

/** `f`, with the peak resident set size of the process sampled while it runs. */
async function withPeakRss<T>(f: () => Promise<T>): Promise<[T, number]> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 25);
  try {
    const result = await f();
    return [result, Math.max(peak, process.memoryUsage.rss())];
  } finally {
    clearInterval(timer);
  }
}

/** N invoices over `clinicIds` in turn, each built by `prepareInvoice` (its number from the clinic's sequence), written in multi-row INSERTs. */
async function createInvoices(db: Db, clinicIds: readonly string[], network: PaymentNetwork, count: number): Promise<InvoiceRow[]> {
  const invoices: InvoiceRow[] = [];
  for (let start = 0; start < count; start += INVOICE_BATCH) {
    const now = new Date();
    const prepared = await Promise.all(
      Array.from({ length: Math.min(INVOICE_BATCH, count - start) }, (_, offset) => {
        const i = start + offset;
        // 1.00 to 99.99 HKD: every payer's share stays well inside what the dev token mints it.
        const unitAmount = `${1 + (i % 99)}.${String(i % 100).padStart(2, '0')}`;
        return prepareInvoice(
          db,
          clinicIds[i % clinicIds.length]!,
          {
            patient_ref: `P-${i}`,
            currency: 'HKD',
            expires_in_minutes: EXPIRY_MINUTES,
            line_items: [{ description: 'Consultation', quantity: 1, unit_amount: unitAmount }],
          },
          network,
          now,
        );
      }),
    );
    const rows = prepared.map((invoice) => invoice.row);
    // node-postgres writes a JavaScript array as a Postgres array, not JSON: the jsonb columns go as text.
    await db('invoices').insert(
      rows.map((row) => ({
        ...row,
        line_items: JSON.stringify(row.line_items),
        metadata: JSON.stringify(row.metadata),
        accepted_tokens: JSON.stringify(row.accepted_tokens),
      })),
    );
    invoices.push(...rows);
  }
  return invoices;
}

/**
 * Pays each invoice exactly once, from `payers` in turn with explicit nonces, `PER_BLOCK` payments
 * to a block (anvil not automining; one `evm_mine` per batch), then mines the confirmations.
 * Returns the range the payments landed in.
 */
async function payAll(
  chain: ChainClient,
  rpcUrl: string,
  token: Address,
  payers: readonly Address[],
  invoices: readonly InvoiceRow[],
): Promise<{ fromBlock: bigint; toBlock: bigint }> {
  const fromBlock = (await chain.getBlockNumber({ cacheTime: 0 })) + 1n;
  const nonces = await Promise.all(payers.map((payer) => chain.getTransactionCount({ address: payer, blockTag: 'pending' })));
  await rpcBatch(
    rpcUrl,
    payers.map((payer) => ({ method: 'anvil_impersonateAccount', params: [payer] })),
  );
  // Twice what a full block of payments may use: below the EIP-1559 target, so the base fee falls instead of climbing 12.5% a block.
  await rpc(rpcUrl, 'evm_setBlockGasLimit', [numberToHex(2n * BigInt(PER_BLOCK) * TRANSFER_GAS)]);
  await rpc(rpcUrl, 'evm_setAutomine', [false]);
  try {
    for (let start = 0; start < invoices.length; start += PER_BLOCK) {
      const calls = invoices.slice(start, start + PER_BLOCK).map((invoice, offset) => {
        const index = (start + offset) % payers.length;
        const nonce = nonces[index]!;
        nonces[index] = nonce + 1;
        return {
          method: 'eth_sendTransaction',
          params: [
            {
              from: payers[index]!,
              to: token,
              data: encodeFunctionData({
                abi: erc20Abi,
                functionName: 'transfer',
                args: [invoice.deposit_address as Address, BigInt(invoice.token_amount_due)],
              }),
              gas: numberToHex(TRANSFER_GAS),
              maxFeePerGas: numberToHex(parseGwei('200')),
              maxPriorityFeePerGas: numberToHex(parseGwei('1')),
              nonce: numberToHex(nonce),
            },
          ],
        };
      });
      for (let at = 0; at < calls.length; at += RPC_BATCH) await rpcBatch(rpcUrl, calls.slice(at, at + RPC_BATCH));
      await rpc(rpcUrl, 'evm_mine');
      const { pending } = (await rpc(rpcUrl, 'txpool_status')) as { pending: string };
      if (BigInt(pending) !== 0n) throw new Error(`${BigInt(pending)} payments were left out of the block mined after payment ${start}`);
    }
    const toBlock = await chain.getBlockNumber({ cacheTime: 0 });
    const mined = await Promise.all(payers.map((payer) => chain.getTransactionCount({ address: payer, blockTag: 'latest' })));
    if (mined.some((count, index) => count !== nonces[index]))
      throw new Error(`not every payment was mined (nonces ${mined.join(',')} of ${nonces.join(',')})`);
    // Bury the last payment under the confirmation depth, so the watcher can post everything.
    await rpc(rpcUrl, 'anvil_mine', [numberToHex(CONFIRMATIONS)]);
    return { fromBlock, toBlock };
  } finally {
    await rpc(rpcUrl, 'evm_setAutomine', [true]);
    await rpcBatch(
      rpcUrl,
      payers.map((payer) => ({ method: 'anvil_stopImpersonatingAccount', params: [payer] })),
    );
  }
}

/** The real watcher from `fromBlock` until a pass finds nothing more to read or post; then checks the ledger holds every payment. */
async function runWatcher(db: Db, chain: ChainClient, network: PaymentNetwork, fromBlock: bigint, expected: number): Promise<number> {
  await initCursor(db, network.chainId, fromBlock - 1n);
  const logger = createLogger('silent');
  let passes = 0;
  for (;;) {
    const result = await syncOnce({
      db,
      chain,
      logger,
      chainId: network.chainId,
      token: network.token.address,
      finality: { confirmations: CONFIRMATIONS, useFinalizedTag: false, maxBlockRange: MAX_BLOCK_RANGE },
      tolerance: 0n,
    });
    passes += 1;
    if (result.cursor >= result.head && result.stored === 0 && result.confirmed === 0) break;
    if (passes > 10_000) throw new Error('the watcher did not catch up within 10,000 passes');
  }
  const count = async (sql: string) => Number(((await db.raw(sql)) as { rows: { n: string }[] }).rows[0]!.n);
  const entries = await count(`SELECT count(*) AS n FROM journal_entries WHERE kind = 'payment'`);
  const confirmed = await count(`SELECT count(*) AS n FROM transfers WHERE kind = 'payment' AND status = 'confirmed' AND flag IS NULL`);
  const unpaid = await count(`SELECT count(*) AS n FROM invoices WHERE status <> 'paid'`);
  if (entries !== expected || confirmed !== expected || unpaid !== 0) {
    throw new Error(
      `the watcher left the ledger incomplete: ${entries} payment entries, ${confirmed} confirmed unflagged payments (expected ${expected}), ${unpaid} invoices not paid`,
    );
  }
  return passes;
}

interface FetchResult {
  logs: number;
  requests: number;
  /** Requests the client or node refused (viem refuses a response over 10 MiB), each then split in two. */
  refused: number;
}

/**
 * The Transfer logs of the range, chunked as `executeReconciliation` chunks it (by
 * `maxBlockRange`), and a chunk that is refused split in halves by the same rule as
 * `fetchTransferLogs`, so that the baseline sends the requests the run sends for the token.
 */
async function fetchRange(chain: ChainClient, token: Address, fromBlock: bigint, toBlock: bigint): Promise<FetchResult> {
  const total: FetchResult = { logs: 0, requests: 0, refused: 0 };
  const fetchChunk = async (from: bigint, to: bigint): Promise<void> => {
    total.requests += 1;
    try {
      total.logs += (await chain.getLogs({ address: [token], event: TRANSFER_EVENT, fromBlock: from, toBlock: to, strict: true })).length;
    } catch (error) {
      const span = to - from + 1n;
      if (span <= 1n) throw error;
      total.refused += 1;
      const middle = from + span / 2n - 1n;
      await fetchChunk(from, middle);
      await fetchChunk(middle + 1n, to);
    }
  };
  for (let from = fromBlock; from <= toBlock; from += MAX_BLOCK_RANGE) {
    await fetchChunk(from, from + MAX_BLOCK_RANGE - 1n < toBlock ? from + MAX_BLOCK_RANGE - 1n : toBlock);
  }
  return total;
}

/** Calls of one kind: how many, their summed time, and the span from the first start to the last end. */
class Tally {
  readonly rows = new Map<string, { count: number; ms: number; first: number; last: number }>();
  add(label: string, started: number, ended: number): void {
    const row = this.rows.get(label);
    if (!row) this.rows.set(label, { count: 1, ms: ended - started, first: started, last: ended });
    else Object.assign(row, { count: row.count + 1, ms: row.ms + ended - started, first: Math.min(row.first, started), last: Math.max(row.last, ended) });
  }
  get count(): number {
    return [...this.rows.values()].reduce((sum, row) => sum + row.count, 0);
  }
}

const AGGREGATE3_SELECTOR = toFunctionSelector(getAbiItem({ abi: multicall3Abi, name: 'aggregate3' }));

/** A chain client whose getLogs, readContract, call, getCode and getBlock calls are tallied by kind into `tally()`. */
function instrumentedChain(rpcUrl: string, tally: () => Tally): ChainClient {
  const chain: ChainClient = createPublicClient({ transport: http(rpcUrl, { timeout: 300_000, retryCount: 0 }) });
  const wrap = <K extends 'getLogs' | 'readContract' | 'getBlock' | 'getBlockNumber' | 'call' | 'getCode'>(
    method: K,
    label: (args: Parameters<ChainClient[K]>[0]) => string,
  ) => {
    const original = (chain[method] as (args: unknown) => Promise<unknown>).bind(chain);
    // Replaces one method of the client in place, to count its calls (viem's types make methods read-only).
    (chain as unknown as Record<string, unknown>)[method] = async (args: Parameters<ChainClient[K]>[0]) => {
      const started = performance.now();
      let refused = false;
      try {
        return await original(args);
      } catch (error) {
        refused = true;
        throw error;
      } finally {
        tally().add(refused ? `${label(args)}, refused` : label(args), started, performance.now());
      }
    };
  };
  wrap('getLogs', (args) =>
    args && 'address' in args && args.address ? 'eth_getLogs, the token' : 'eth_getLogs, any token to deposit addresses (500 a call)',
  );
  wrap('readContract', (args) => `eth_call ${String((args as { functionName: string }).functionName)}`);
  wrap('getBlock', () => 'eth_getBlockByNumber');
  wrap('getBlockNumber', () => 'eth_blockNumber');
  wrap('call', (args) => (args.data?.startsWith(AGGREGATE3_SELECTOR) ? `eth_call aggregate3 (Multicall3, ${MULTICALL_BATCH} balances a call)` : 'eth_call'));
  wrap('getCode', () => 'eth_getCode');
  return chain;
}

/** SQL statements `db` sends, tallied by their opening words into `tally()`; the end time of each progress write of a run goes to `progress()`. */
function instrumentDb(db: Db, tally: () => Tally | undefined, progress: () => number[] | undefined): void {
  const sent = new Map<string, { at: number; label: string }>();
  const label = (sql: string) => {
    const flat = sql.replace(/\s+/g, ' ').trim();
    const words = flat.slice(0, 70);
    return flat.length > 70 ? `${words}…` : words;
  };
  db.on('query', (query: { __knexQueryUid: string; sql: string }) => sent.set(query.__knexQueryUid, { at: performance.now(), label: label(query.sql) }));
  const done = (query: { __knexQueryUid: string }) => {
    const start = sent.get(query.__knexQueryUid);
    sent.delete(query.__knexQueryUid);
    if (!start) return;
    const now = performance.now();
    tally()?.add(start.label, start.at, now);
    if (start.label.startsWith('update "reconciliation_runs" set "progress"')) progress()?.push(now);
  };
  db.on('query-response', (_response: unknown, query: { __knexQueryUid: string }) => done(query));
  db.on('query-error', (_error: unknown, query: { __knexQueryUid: string }) => done(query));
}

interface Round {
  round: number;
  fetch: FetchResult;
  fetchMs: number;
  fetchRss: number;
  reconMs: number;
  reconRss: number;
  /** From the run's start to its last chunk read (step 1: the chain); then to progress 95 (ledger, invoices, balances); then the write. */
  readMs: number;
  compareMs: number;
  writeMs: number;
  rpcCalls: number;
  sqlStatements: number;
  /** How the run read balances (its `balance_reads` count, and why when one by one). */
  balanceReads: string;
  rpc: Tally;
  sql: Tally;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function printTable(header: readonly string[], body: readonly (readonly string[])[]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((line) => line[column]!.length)));
  const line = (values: readonly string[]) =>
    values.map((value, column) => (column === 0 ? value.padEnd(widths[column]!) : value.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const values of body) console.log(line(values));
}

/** The run's eth_getLogs requests for the token, as `requests (refused)`. */
function tokenGetLogs(tally: Tally): string {
  const count = (label: string) => tally.rows.get(label)?.count ?? 0;
  const refused = count('eth_getLogs, the token, refused');
  return `${count('eth_getLogs, the token') + refused} (${refused})`;
}

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);

function printRounds(rounds: readonly Round[], transfers: number, blocks: bigint): void {
  const header = [
    'round',
    'transfers',
    'blocks',
    'reconciliation ms',
    'raw fetch ms',
    'ratio',
    'read chain ms',
    'compare ms',
    'write ms',
    'RPC calls',
    'balances read via',
    'SQL stmts',
    'peak RSS MB (recon / fetch)',
    'token getLogs (refused): recon | fetch',
  ];
  const cells = (row: Round | 'median'): string[] => {
    const pick = (f: (r: Round) => number) => (row === 'median' ? median(rounds.map(f)) : f(row));
    const recon = pick((r) => r.reconMs);
    const fetchMs = pick((r) => r.fetchMs);
    return [
      row === 'median' ? 'median' : `#${row.round}`,
      String(transfers),
      blocks.toString(),
      recon.toFixed(0),
      fetchMs.toFixed(0),
      `${(recon / fetchMs).toFixed(1)}x`,
      pick((r) => r.readMs).toFixed(0),
      pick((r) => r.compareMs).toFixed(0),
      pick((r) => r.writeMs).toFixed(0),
      pick((r) => r.rpcCalls).toFixed(0),
      row === 'median' ? '' : row.balanceReads,
      pick((r) => r.sqlStatements).toFixed(0),
      `${mb(pick((r) => r.reconRss))} / ${mb(pick((r) => r.fetchRss))}`,
      row === 'median' ? '' : `${tokenGetLogs(row.rpc)} | ${row.fetch.requests} (${row.fetch.refused})`,
    ];
  };
  printTable(header, [...rounds.map((row) => cells(row)), cells('median')]);
}

function printTally(title: string, tally: Tally, limit: number): void {
  const rows = [...tally.rows.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, limit);
  console.log(title);
  printTable(
    ['what', 'calls', 'summed ms', 'span ms'],
    rows.map(([label, row]) => [label, String(row.count), row.ms.toFixed(0), (row.last - row.first).toFixed(0)]),
  );
}

/**
 * Starts a private Postgres and anvil, creates and pays N invoices, lets the watcher confirm
 * them, then times the raw fetch of the range and a full reconciliation run of it in alternation
 * `ROUNDS` times, prints the table and where the run's time went, and stops everything. Throws
 * when a run is not valid.
 */
export async function runReconciliationBench(): Promise<void> {
  const stack = BenchStack.create('recon');
  const setup: [string, number][] = [];
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const [result, ms] = await timed(f).catch((error: unknown) => {
      throw new Error(`set-up step "${name}" failed: ${shortened(error)}`);
    });
    setup.push([name, ms]);
    console.log(`set-up: ${name}: ${(ms / 1000).toFixed(1)} s`);
    return result;
  };
  try {
    console.log(
      `Reconciliation of ${TRANSFERS} transfers, ${PER_BLOCK} a block, ${ROUNDS} rounds; goal at ${ISSUE_TRANSFERS}: at most ${GOAL_RATIO}x the raw fetch of the same logs.`,
    );
    console.log(`N = ${TRANSFERS} (BENCH_RECON_TRANSFERS; default ${DEFAULT_TRANSFERS}).`);
    const { postgres, anvil } = await step('start Postgres and anvil', () => stack.startPostgresAndAnvil());

    const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 300_000 });
    const payers = Array.from({ length: PAYERS }, () => privateKeyToAccount(generatePrivateKey()).address);
    const network = await step('deploy token and factory, fund payers', async () => {
      return stack.deployNetwork(chain, anvil, payers);
    });

    const { db, clinicIds } = await step(`create database, migrate, ${CLINICS} clinics`, async () => {
      const db = await stack.migratedDatabase(postgres, DATABASE);
      const clinicIds = await withTransaction(db, async (trx) => {
        const ids: string[] = [];
        for (let i = 0; i < CLINICS; i++) ids.push((await createBenchClinic(trx, `Bench Clinic ${i + 1}`)).id);
        return ids;
      });
      return { db, clinicIds };
    });

    const invoices = await step(`create ${TRANSFERS} invoices (prepareInvoice, INSERTs of ${INVOICE_BATCH})`, () =>
      createInvoices(db, clinicIds, network, TRANSFERS),
    );

    // Each payer must hold what it pays.
    const owed = new Map<Address, bigint>();
    for (const [i, invoice] of invoices.entries()) owed.set(payers[i % PAYERS]!, (owed.get(payers[i % PAYERS]!) ?? 0n) + BigInt(invoice.token_amount_due));
    for (const payer of payers) {
      const held = await chain.readContract({ address: network.token.address, abi: erc20Abi, functionName: 'balanceOf', args: [payer] });
      if (held < owed.get(payer)!) throw new Error(`payer ${payer} holds ${held} but owes ${owed.get(payer)}; raise PAYERS`);
    }

    const { fromBlock, toBlock } = await step(`pay each invoice once (${PAYERS} payers, ${PER_BLOCK} a block)`, () =>
      payAll(chain, anvil.rpcUrl, network.token.address, payers, invoices),
    );
    const blocks = toBlock - fromBlock + 1n;
    // SQL is tallied while the watcher runs (where set-up time goes) and while a run runs.
    let sqlTally: Tally | undefined;
    let progressWrites: number[] | undefined;
    instrumentDb(
      db,
      () => sqlTally,
      () => progressWrites,
    );
    const watcherSql = new Tally();
    sqlTally = watcherSql;
    const passes = await step(`watcher: syncOnce until every payment is confirmed`, () => runWatcher(db, chain, network, fromBlock, TRANSFERS));
    sqlTally = undefined;
    console.log(
      `set-up: the watcher took ${passes} passes and ${watcherSql.count} SQL statements; the payments are in blocks ${fromBlock}–${toBlock} (${blocks} blocks)`,
    );
    printTally("set-up: the watcher's 5 costliest SQL statements by summed time", watcherSql, 5);
    // Fresh statistics, as autovacuum would have gathered by then: without them the first run's
    // plan for the deposit balances is 20–30 times slower than every later run's.
    await step('ANALYZE', () => db.raw('ANALYZE'));

    // The run and the baseline read through the same kind of client; only the run's is tallied.
    let current = new Tally();
    const reconChain = instrumentedChain(anvil.rpcUrl, () => current);
    const fetchChain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 300_000 });
    const deps: ReconciliationDeps = {
      db,
      chain: reconChain,
      logger: createLogger('silent'),
      chainId: network.chainId,
      token: network.token.address,
      finality: { confirmations: CONFIRMATIONS, useFinalizedTag: false, maxBlockRange: MAX_BLOCK_RANGE },
      multicall: network.multicall3 ?? undefined,
    };

    const warmup = await step('warm-up raw fetch', () => fetchRange(fetchChain, network.token.address, fromBlock, toBlock));
    if (warmup.logs !== TRANSFERS) throw new Error(`the range holds ${warmup.logs} Transfer logs, not ${TRANSFERS}`);
    console.log(`set-up total: ${(setup.reduce((sum, [, ms]) => sum + ms, 0) / 1000).toFixed(1)} s`);
    console.log('');

    const rounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const [[fetched, fetchMs], fetchRss] = await withPeakRss(() => timed(() => fetchRange(fetchChain, network.token.address, fromBlock, toBlock)));
      if (fetched.logs !== TRANSFERS) throw new Error(`getLogs returned ${fetched.logs} logs, not ${TRANSFERS}`);

      current = new Tally();
      const sql = new Tally();
      const progress: number[] = [];
      [sqlTally, progressWrites] = [sql, progress];
      let runStart = 0;
      const [[run, reconMs], reconRss] = await withPeakRss(() =>
        timed(async () => {
          runStart = performance.now();
          const started = await startReconciliation(deps, { fromBlock, toBlock, requestedBy: 'bench' });
          return executeReconciliation(deps, started.id);
        }),
      );
      const runEnd = performance.now();
      [sqlTally, progressWrites] = [undefined, undefined];
      const rpc = current;
      await checkRun(db, run, TRANSFERS, CLINICS);

      // Phases, from the run's progress writes: one after each chunk read, then one at 95 just before the one write.
      if (progress.length < 2) throw new Error(`expected a progress write per chunk and one at 95, saw ${progress.length}`);
      const readEnd = progress.at(-2)!;
      const compareEnd = progress.at(-1)!;
      rounds.push({
        round,
        fetch: fetched,
        fetchMs,
        fetchRss,
        reconMs,
        reconRss,
        readMs: readEnd - runStart,
        compareMs: compareEnd - readEnd,
        writeMs: runEnd - compareEnd,
        rpcCalls: rpc.count,
        sqlStatements: sql.count,
        balanceReads: run.counts.balance_reads_note
          ? `${run.counts.balance_reads} (${run.counts.balance_reads_note})`
          : String(run.counts.balance_reads ?? 'none'),
        rpc,
        sql,
      });
    }

    console.log(
      `${TRANSFERS} exact payments to ${TRANSFERS} invoices of ${CLINICS} clinics from ${PAYERS} payers in ${blocks} blocks, all confirmed by the watcher; ` +
        `maxBlockRange ${MAX_BLOCK_RANGE}, ${CONFIRMATIONS} confirmations; Postgres with fsync on; ${os.cpus().length} CPUs; ${ROUNDS} rounds, fetch then run, on the same database.`,
    );
    console.log("reconciliation: startReconciliation + executeReconciliation over exactly the payments' range, until it returns `completed`.");
    console.log(
      "raw fetch: viem getLogs of the token's Transfer event over the same range, in the same maxBlockRange chunks, decoded; a refused request split in halves as fetchTransferLogs does.",
    );
    console.log('The database was ANALYZEd after set-up.');
    console.log(
      'read chain / compare / write: the run from its start to its last chunk read; to its progress-95 write (ledger, invoice states, balances); to its end (the one write).',
    );
    console.log('');
    printRounds(rounds, TRANSFERS, blocks);
    console.log('');
    const recon = median(rounds.map((r) => r.reconMs));
    const fetchMs = median(rounds.map((r) => r.fetchMs));
    console.log(
      `Median: reconciliation ${(recon / 1000).toFixed(1)} s (${((TRANSFERS / recon) * 1000).toFixed(0)} transfers/s), raw fetch ${(fetchMs / 1000).toFixed(1)} s, ratio ${(recon / fetchMs).toFixed(1)}x. ` +
        (TRANSFERS === ISSUE_TRANSFERS
          ? `Goal (<= ${GOAL_RATIO}x at ${ISSUE_TRANSFERS}): ${recon / fetchMs <= GOAL_RATIO ? 'met' : 'NOT met'}.`
          : `The goal is judged at ${ISSUE_TRANSFERS} transfers.`),
    );
    console.log(`Balances read via: ${[...new Set(rounds.map((r) => r.balanceReads))].join(' / ')}.`);
    console.log('');
    const last = rounds.at(-1)!;
    printTally(`Where the last run's time went: JSON-RPC (summed over concurrent calls; span = first start to last end)`, last.rpc, 10);
    console.log('');
    printTally('… and SQL, the 8 costliest statements by summed time', last.sql, 8);
  } finally {
    await stack.close();
  }
}

/** A run that did not complete, match every payment, check every balance, or that found any exception, is not a figure. */
async function checkRun(db: Db, run: RunRow, transfers: number, clinics: number): Promise<void> {
  // The recorded error is the first 500 characters of the message; for a failed query that is mostly its SQL.
  if (run.status !== 'completed') throw new Error(`the reconciliation run ${run.id} is ${run.status}: ${run.error?.slice(0, 300) ?? 'no error recorded'}`);
  const counts = run.counts;
  const lines = Number(((await db('reconciliation_lines').where({ run_id: run.id, result: 'matched' }).count({ n: '*' })) as { n: string }[])[0]!.n);
  const open = Number(((await db('exceptions').count({ n: '*' })) as { n: string }[])[0]!.n);
  const problems: string[] = [];
  if (Number(counts.transfers_on_chain) !== transfers) problems.push(`${counts.transfers_on_chain} transfers on chain, not ${transfers}`);
  if (Number(counts.matched) !== transfers) problems.push(`${counts.matched} matched, not ${transfers}`);
  if (Number(counts.exceptions) !== 0 || open !== 0) problems.push(`${counts.exceptions} exceptions in the run, ${open} in the queue, not 0`);
  if (Number(counts.balances_checked) !== transfers + clinics) problems.push(`${counts.balances_checked} balances checked, not ${transfers + clinics}`);
  if (Number(counts.balance_mismatches) !== 0) problems.push(`${counts.balance_mismatches} balance mismatches`);
  if (lines !== transfers) problems.push(`${lines} matched lines written, not ${transfers}`);
  if (problems.length > 0) throw new Error(`the reconciliation run ${run.id} is not valid: ${problems.join('; ')} (counts ${JSON.stringify(counts)})`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runReconciliationBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
