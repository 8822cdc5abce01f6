/**
 * Ingestion: N payments to N invoices, read from the chain and posted to the ledger by the real
 * chain watcher (`syncOnce` in a loop, as the worker runs it), next to the two limits of the
 * same work measured in the same run on the same data:
 *
 * - **getLogs**: the raw `eth_getLogs` fetch of the same block range, in the same chunks
 *   (`maxBlockRange`), with viem's `getLogs` and the same `Transfer` event; a request that is
 *   refused (viem refuses an answer over 10 MiB, about 16,000 logs) is split in halves by the
 *   same rule as `fetchTransferLogs`, as the watcher's is;
 * - **COPY**: a Postgres `COPY` of N rows shaped like the watcher's transfer rows into a scratch
 *   table of the same database.
 *
 *   npx tsx bench/ingestion.ts          (BENCH_PAYMENTS=10000 by default: the size)
 *   npm run bench -- ingestion
 *
 * The watcher is timed from its first `eth_getLogs` request to the return of the pass that
 * posted the last journal entry. Every round runs on a fresh copy of the same database (the
 * invoices, no transfers), so rounds are independent; the figures are medians over the rounds.
 * The payments are sent from several payers with explicit nonces while anvil does not
 * automine, and mined in batches, so they land in a few dozen blocks. Postgres runs with normal
 * durability (fsync and synchronous commit on), as in production. A round that did not post
 * exactly N payment entries or left an invoice unpaid is an error, not a figure.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type Address, createPublicClient, createTestClient, encodeFunctionData, erc20Abi, type GetLogsReturnType, type Hex, http, parseGwei } from 'viem';
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';
import { createInvoice, type InvoiceRow } from '../src/billing/invoices.js';
import { type ChainClient, createChainClient } from '../src/chain/client.js';
import { initCursor } from '../src/chain/cursor.js';
import type { PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { TRANSFER_EVENT } from '../src/chain/transferLogs.js';
import { DEV_CHAIN_ID } from '../src/dev/anvil.js';
import { type EmbeddedPostgres, ensureDatabase } from '../src/dev/postgres.js';
import { createDb, type Db } from '../src/platform/db.js';
import { createLogger } from '../src/platform/log.js';
import { migrateLatest } from '../src/platform/migrate.js';
import { withTransaction } from '../src/platform/transaction.js';
import { syncOnce } from '../src/settlement/watcher.js';
import { BENCH_ACTOR, BenchStack, createBenchClinic } from './benchStack.js';

/** The goal: the watcher within 5x of the sum of the two limits. */
const GOAL_RATIO = 5;
const PAYMENTS = positiveInteger('BENCH_PAYMENTS', 10_000);
const ROUNDS = positiveInteger('BENCH_ROUNDS', 3);
/** The watcher's widest eth_getLogs range: the gateway's default (MAX_BLOCK_RANGE). */
const MAX_BLOCK_RANGE = BigInt(positiveInteger('BENCH_MAX_BLOCK_RANGE', 2000));
/** The dev chain's default confirmation depth. */
const CONFIRMATIONS = 3;
/** Each payer is funded with 1M HKD, about 1,800 of these payments (100 to 999 HKD): more payers for more payments. */
const PAYERS = Math.max(8, Math.ceil(PAYMENTS / 1500));
/** The payments are spread over about this many blocks (more when they do not fit). */
const PAYMENT_BLOCKS = 32;
/** Payments one block takes: anvil's 30M block gas limit holds 333 transfers at TRANSFER_GAS each. */
const MAX_PER_BLOCK = 330;
const TEMPLATE = 'clinicpay_ingest_template';
/** Generous for an ERC-20 transfer to a fresh address (about 52,000). */
const TRANSFER_GAS = 90_000n;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

interface PreparedChain {
  chain: ChainClient;
  rpcUrl: string;
  network: PaymentNetwork;
  payers: PrivateKeyAccount[];
}

/** Sends one exact payment to each invoice from `payers` in turn, `perBlock` at a time, mining a block after each batch. */
async function payAll({ chain, rpcUrl, network, payers }: PreparedChain, invoices: readonly InvoiceRow[]): Promise<{ fromBlock: bigint; toBlock: bigint }> {
  const testClient = createTestClient({ mode: 'anvil', transport: http(rpcUrl) });
  const fromBlock = (await chain.getBlockNumber({ cacheTime: 0 })) + 1n;
  const nonces = await Promise.all(payers.map((payer) => chain.getTransactionCount({ address: payer.address, blockTag: 'pending' })));
  const perBlock = Math.min(Math.ceil(invoices.length / PAYMENT_BLOCKS), MAX_PER_BLOCK);
  await testClient.setAutomine(false);
  try {
    for (let start = 0; start < invoices.length; start += perBlock) {
      const batch = invoices.slice(start, start + perBlock);
      const raw = await Promise.all(
        batch.map((invoice, offset) => {
          const index = (start + offset) % payers.length;
          const nonce = nonces[index]!;
          nonces[index] = nonce + 1;
          return payers[index]!.signTransaction({
            type: 'eip1559',
            chainId: DEV_CHAIN_ID,
            to: network.token.address,
            data: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [invoice.deposit_address as Address, BigInt(invoice.token_amount_due)] }),
            gas: TRANSFER_GAS,
            maxFeePerGas: parseGwei('200'),
            maxPriorityFeePerGas: parseGwei('1'),
            nonce,
          });
        }),
      );
      await Promise.all(raw.map((serializedTransaction: Hex) => chain.sendRawTransaction({ serializedTransaction })));
      await testClient.mine({ blocks: 1 });
    }
    const toBlock = await chain.getBlockNumber({ cacheTime: 0 });
    const mined = await Promise.all(payers.map((payer) => chain.getTransactionCount({ address: payer.address, blockTag: 'latest' })));
    if (mined.some((count, index) => count !== nonces[index]))
      throw new Error(`not every payment was mined (nonces ${mined.join(',')} of ${nonces.join(',')})`);
    // Bury the last payment under the confirmation depth, so one watcher run can post everything.
    await testClient.mine({ blocks: CONFIRMATIONS });
    return { fromBlock, toBlock };
  } finally {
    await testClient.setAutomine(true);
  }
}

type RangeLogs = GetLogsReturnType<typeof TRANSFER_EVENT, [typeof TRANSFER_EVENT], true>;

/** The Transfer logs of the range, chunked as the watcher chunks it, a refused chunk split in halves as the watcher splits it. */
async function fetchRange(chain: ChainClient, token: Address, fromBlock: bigint, toBlock: bigint): Promise<RangeLogs> {
  const fetchChunk = async (from: bigint, to: bigint): Promise<RangeLogs> => {
    try {
      return await chain.getLogs({ address: token, event: TRANSFER_EVENT, fromBlock: from, toBlock: to, strict: true });
    } catch (error) {
      const span = to - from + 1n;
      if (span <= 1n) throw error;
      const middle = from + span / 2n - 1n;
      return [...(await fetchChunk(from, middle)), ...(await fetchChunk(middle + 1n, to))];
    }
  };
  const logs: RangeLogs = [];
  for (let from = fromBlock; from <= toBlock; from += MAX_BLOCK_RANGE) {
    logs.push(...(await fetchChunk(from, from + MAX_BLOCK_RANGE - 1n < toBlock ? from + MAX_BLOCK_RANGE - 1n : toBlock)));
  }
  return logs;
}

interface Round {
  round: number;
  watcherMs: number;
  passes: number;
  statements: number;
  statementMs: number;
  rpcCalls: number;
  fetchMs: number;
  copyMs: number;
  unnestMs: number;
}

const SCRATCH_COLUMNS = `chain_id int NOT NULL, tx_hash text NOT NULL, log_index int NOT NULL, block_number bigint NOT NULL, block_hash text NOT NULL,
  token_address text NOT NULL, from_address text NOT NULL, to_address text NOT NULL, amount numeric(78,0) NOT NULL`;

function scratchRows(logs: RangeLogs): string[][] {
  return logs.map((log) => [
    String(DEV_CHAIN_ID),
    log.transactionHash,
    String(log.logIndex),
    log.blockNumber.toString(),
    log.blockHash,
    log.address.toLowerCase(),
    log.args.from.toLowerCase(),
    log.args.to.toLowerCase(),
    log.args.value.toString(),
  ]);
}

/** A server-side `COPY … FROM '<file>'` of the rows into a fresh scratch table; the file is written untimed. */
async function timeCopy(client: pg.Client, workDir: string, rows: string[][], round: number): Promise<number> {
  const file = path.join(workDir, `copy-${round}.csv`);
  fs.writeFileSync(file, `${rows.map((row) => row.join(',')).join('\n')}\n`, { mode: 0o644 });
  const table = `bench_copy_${round}`;
  await client.query(`CREATE TABLE ${table} (${SCRATCH_COLUMNS})`);
  const started = performance.now();
  const result = await client.query(`COPY ${table} FROM '${file}' WITH (FORMAT csv)`);
  const elapsed = performance.now() - started;
  if (result.rowCount !== rows.length) throw new Error(`COPY wrote ${result.rowCount} rows, not ${rows.length}`);
  return elapsed;
}

/** One `INSERT … SELECT FROM unnest(…)` of the same rows (what a client without COPY support can do). */
async function timeUnnestInsert(client: pg.Client, rows: string[][], round: number): Promise<number> {
  const table = `bench_unnest_${round}`;
  await client.query(`CREATE TABLE ${table} (${SCRATCH_COLUMNS})`);
  const columns = rows[0]!.map((_, column) => rows.map((row) => row[column]!));
  const started = performance.now();
  const result = await client.query(
    `INSERT INTO ${table} SELECT * FROM unnest($1::int[], $2::text[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::numeric[])`,
    columns,
  );
  const elapsed = performance.now() - started;
  if (result.rowCount !== rows.length) throw new Error(`INSERT wrote ${result.rowCount} rows, not ${rows.length}`);
  return elapsed;
}

/**
 * The real watcher over the range on its own copy of the database: `syncOnce` until a pass finds
 * nothing more to read or post. Returns the time from the first eth_getLogs request to the end
 * of the pass that posted the last entry, after checking what it posted.
 */
async function timeWatcher(db: Db, rpcUrl: string, network: PaymentNetwork, fromBlock: bigint, expected: number): Promise<WatcherRun> {
  // The gateway's client (createChainClient: no retries), with a count of the requests it sends.
  let rpcCalls = 0;
  const rpcByMethod = new Map<string, { count: number; ms: number }>();
  const chain: ChainClient = createPublicClient({
    transport: http(rpcUrl, {
      timeout: 60_000,
      retryCount: 0,
      onFetchRequest: () => {
        rpcCalls += 1;
      },
      ...(BREAKDOWN
        ? {
            fetchFn: async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
              const started = performance.now();
              const response = await fetch(input, init);
              tally(rpcByMethod, (JSON.parse(String(init?.body ?? '{}')) as { method?: string }).method ?? '?', performance.now() - started);
              return response;
            },
          }
        : {}),
    }),
  });
  let firstGetLogs: number | undefined;
  const getLogs = chain.getLogs.bind(chain);
  chain.getLogs = ((args: Parameters<typeof getLogs>[0]) => {
    firstGetLogs ??= performance.now();
    return getLogs(args);
  }) as typeof chain.getLogs;
  await initCursor(db, network.chainId, fromBlock - 1n);
  // Where the time goes: every SQL statement the watcher sends, and how long each took to answer.
  const sent = new Map<string, number>();
  let statements = 0;
  let statementMs = 0;
  const sqlByShape = new Map<string, { count: number; ms: number }>();
  db.on('query', (query: { __knexQueryUid: string }) => sent.set(query.__knexQueryUid, performance.now()));
  db.on('query-response', (_response: unknown, query: { __knexQueryUid: string; sql: string }) => {
    const ms = performance.now() - (sent.get(query.__knexQueryUid) ?? performance.now());
    statements += 1;
    statementMs += ms;
    sent.delete(query.__knexQueryUid);
    if (BREAKDOWN) tally(sqlByShape, query.sql.replace(/\s+/g, ' ').slice(0, 110), ms);
  });
  rpcCalls = 0;
  const logger = createLogger('silent');
  let lastPosted: number | undefined;
  let [statementsAtEnd, statementMsAtEnd, rpcCallsAtEnd] = [0, 0, 0];
  let posted = 0;
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
    if (result.confirmed > 0) {
      lastPosted = performance.now();
      posted += result.confirmed;
      [statementsAtEnd, statementMsAtEnd, rpcCallsAtEnd] = [statements, statementMs, rpcCalls];
    }
    if (result.cursor >= result.head && result.stored === 0 && result.confirmed === 0) break;
    if (passes > 10_000) throw new Error('the watcher did not catch up within 10,000 passes');
  }
  if (firstGetLogs === undefined || lastPosted === undefined) throw new Error('the watcher posted nothing');
  if (BREAKDOWN) {
    printTally('SQL by statement', sqlByShape);
    printTally('RPC by method', rpcByMethod);
  }

  const count = async (sql: string) => Number(((await db.raw(sql)) as { rows: { n: string }[] }).rows[0]!.n);
  const entries = await count(`SELECT count(*) AS n FROM journal_entries WHERE kind = 'payment'`);
  const transfers = await count(`SELECT count(DISTINCT transfer_id) AS n FROM journal_entries WHERE kind = 'payment'`);
  const unpaid = await count(`SELECT count(*) AS n FROM invoices WHERE status <> 'paid'`);
  const unbalanced = await count(`SELECT count(*) AS n FROM (SELECT 1 FROM postings GROUP BY entry_id, asset HAVING sum(amount) <> 0) AS u`);
  if (posted !== expected || entries !== expected || transfers !== expected || unpaid !== 0 || unbalanced !== 0) {
    throw new Error(
      `the watcher run is not valid: ${posted} confirmed, ${entries} payment entries for ${transfers} transfers (expected ${expected}), ${unpaid} invoices not paid, ${unbalanced} unbalanced entries`,
    );
  }
  return { ms: lastPosted - firstGetLogs, passes, statements: statementsAtEnd, statementMs: statementMsAtEnd, rpcCalls: rpcCallsAtEnd };
}

/**
 * `BENCH_BREAKDOWN=1`: also print, per round, the watcher's SQL by statement and its RPC requests
 * by method (each timed until its answer's headers arrive).
 */
const BREAKDOWN = process.env.BENCH_BREAKDOWN === '1';

function tally(totals: Map<string, { count: number; ms: number }>, key: string, ms: number): void {
  const total = totals.get(key) ?? { count: 0, ms: 0 };
  totals.set(key, { count: total.count + 1, ms: total.ms + ms });
}

function printTally(title: string, totals: ReadonlyMap<string, { count: number; ms: number }>): void {
  console.log(`${title} (count, total ms):`);
  for (const [key, { count, ms }] of [...totals].sort((a, b) => b[1].ms - a[1].ms))
    console.log(`  ${String(count).padStart(6)} ${ms.toFixed(0).padStart(7)}  ${key}`);
}

interface WatcherRun {
  ms: number;
  passes: number;
  /** SQL statements the watcher sent, and the sum of their round trips. */
  statements: number;
  statementMs: number;
  /** JSON-RPC requests it made. */
  rpcCalls: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function printTable(rows: readonly Round[]): void {
  const header = ['round', 'watcher ms', 'getLogs ms', 'COPY ms', 'watcher/(getLogs+COPY)', 'INSERT…unnest ms', 'passes', 'RPC calls', 'SQL stmts', 'SQL ms'];
  const cells = (row: Round | 'median'): string[] => {
    const pick = (f: (r: Round) => number) => (row === 'median' ? median(rows.map(f)) : f(row));
    const watcher = pick((r) => r.watcherMs);
    const fetchMs = pick((r) => r.fetchMs);
    const copyMs = pick((r) => r.copyMs);
    return [
      row === 'median' ? 'median' : `#${row.round}`,
      watcher.toFixed(0),
      fetchMs.toFixed(1),
      copyMs.toFixed(1),
      `${(watcher / (fetchMs + copyMs)).toFixed(1)}x`,
      pick((r) => r.unnestMs).toFixed(1),
      pick((r) => r.passes).toFixed(0),
      pick((r) => r.rpcCalls).toFixed(0),
      pick((r) => r.statements).toFixed(0),
      pick((r) => r.statementMs).toFixed(0),
    ];
  };
  const body = [...rows.map((row) => cells(row)), cells('median')];
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((line) => line[column]!.length)));
  const line = (values: readonly string[]) =>
    values.map((value, column) => (column === 0 ? value.padEnd(widths[column]!) : value.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const values of body) console.log(line(values));
}

/**
 * The template database with the invoices, and one payment into each: the range the rounds read.
 * Only the range is kept: the set-up's rows would otherwise sit in the heap the watcher runs in.
 */
async function prepareRange(postgres: EmbeddedPostgres, prepared: PreparedChain): Promise<{ fromBlock: bigint; toBlock: bigint }> {
  await ensureDatabase(postgres.urlFor('postgres'), TEMPLATE);
  const template = createDb({ connectionString: postgres.urlFor(TEMPLATE), poolMax: 1 });
  let invoices: InvoiceRow[];
  try {
    await migrateLatest(template);
    invoices = await withTransaction(template, async (trx) => {
      const clinic = await createBenchClinic(trx);
      const rows: InvoiceRow[] = [];
      for (let i = 0; i < PAYMENTS; i++) {
        const unitAmount = `${100 + (i % 900)}.${String(i % 100).padStart(2, '0')}`;
        rows.push(
          await createInvoice(trx, {
            clinicId: clinic.id,
            input: { patient_ref: `P-${i}`, currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: unitAmount }] },
            network: prepared.network,
            actor: BENCH_ACTOR,
          }),
        );
      }
      return rows;
    });
  } finally {
    await template.destroy();
  }
  const range = await payAll(prepared, invoices);
  const warmup = await fetchRange(prepared.chain, prepared.network.token.address, range.fromBlock, range.toBlock);
  if (warmup.length !== PAYMENTS) throw new Error(`the range holds ${warmup.length} Transfer logs, not ${PAYMENTS}`);
  return range;
}

/** The two limits of a round (and the unnest reference): the logs and rows they use are gone before the watcher runs. */
async function timeLimits(
  chain: ChainClient,
  client: pg.Client,
  workDir: string,
  token: Address,
  fromBlock: bigint,
  toBlock: bigint,
  round: number,
): Promise<{ fetchMs: number; copyMs: number; unnestMs: number }> {
  const started = performance.now();
  const logs = await fetchRange(chain, token, fromBlock, toBlock);
  const fetchMs = performance.now() - started;
  if (logs.length !== PAYMENTS) throw new Error(`getLogs returned ${logs.length} logs, not ${PAYMENTS}`);
  const rows = scratchRows(logs);
  const copyMs = await timeCopy(client, workDir, rows, round);
  const unnestMs = await timeUnnestInsert(client, rows, round);
  return { fetchMs, copyMs, unnestMs };
}

/**
 * Starts a private Postgres and anvil, creates N invoices, pays each once, then measures the
 * watcher and the two limits `ROUNDS` times, prints the table and whether the goal is met, and
 * stops everything. Throws when a run is not valid.
 */
export async function runIngestionBench(): Promise<void> {
  const stack = BenchStack.create('ingestion');
  const { workDir } = stack;
  try {
    const { postgres, anvil } = await stack.startPostgresAndAnvil();

    const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 60_000 });
    const payers = Array.from({ length: PAYERS }, () => privateKeyToAccount(generatePrivateKey()));
    const network = await stack.deployNetwork(
      chain,
      anvil,
      payers.map((payer) => payer.address),
    );

    // The invoices and their payments, once; the set-up's own rows are gone before anything is timed.
    const { fromBlock, toBlock } = await prepareRange(postgres, { chain, rpcUrl: anvil.rpcUrl, network, payers });

    const rounds: Round[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const database = `clinicpay_ingest_${round}`;
      await ensureDatabase(postgres.urlFor('postgres'), database, TEMPLATE);
      const db = createDb({ connectionString: postgres.urlFor(database) });
      const client = new pg.Client({ connectionString: postgres.urlFor(database) });
      await client.connect();
      try {
        const { fetchMs, copyMs, unnestMs } = await timeLimits(chain, client, workDir, network.token.address, fromBlock, toBlock, round);
        const watcher = await timeWatcher(db, anvil.rpcUrl, network, fromBlock, PAYMENTS);
        rounds.push({
          round,
          watcherMs: watcher.ms,
          passes: watcher.passes,
          statements: watcher.statements,
          statementMs: watcher.statementMs,
          rpcCalls: watcher.rpcCalls,
          fetchMs,
          copyMs,
          unnestMs,
        });
      } finally {
        await client.end();
        await db.destroy();
      }
    }

    console.log(
      `${PAYMENTS} payments to ${PAYMENTS} invoices from ${PAYERS} payers in ${toBlock - fromBlock + 1n} blocks; ` +
        `maxBlockRange ${MAX_BLOCK_RANGE}, ${CONFIRMATIONS} confirmations; Postgres with fsync on; ${ROUNDS} rounds, each on a fresh copy of the database; ${os.cpus().length} CPUs.`,
    );
    console.log('watcher: real syncOnce passes, from the first eth_getLogs request to the end of the pass that posted the last journal entry.');
    console.log(
      'getLogs: viem getLogs of the same range and event, same chunks (halved when refused, as the watcher does). COPY: server-side COPY FROM a CSV file of the same rows (pg-copy-streams is not installed), into a scratch table.',
    );
    console.log('INSERT…unnest: one multi-row INSERT … SELECT FROM unnest() of the same rows, for reference.');
    console.log(
      "passes, RPC calls, SQL stmts, SQL ms: the watcher's syncOnce passes, JSON-RPC requests, SQL statements and the sum of their round trips, up to the last entry.",
    );
    console.log('');
    printTable(rounds);
    console.log('');
    const watcher = median(rounds.map((r) => r.watcherMs));
    const limits = median(rounds.map((r) => r.fetchMs)) + median(rounds.map((r) => r.copyMs));
    const ratio = watcher / limits;
    console.log(
      `Median: watcher ${watcher.toFixed(0)} ms (${((PAYMENTS / watcher) * 1000).toFixed(0)} payments/s), getLogs + COPY ${limits.toFixed(1)} ms, ratio ${ratio.toFixed(1)}x`,
    );
    console.log(`Goal (watcher <= ${GOAL_RATIO} x (getLogs + COPY)): ${ratio <= GOAL_RATIO ? 'met' : 'NOT met'} (${ratio.toFixed(1)}x).`);
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runIngestionBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
