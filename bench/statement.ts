/**
 * Statement: one clinic's JSON statement over N journal entries (one million by default, the
 * issue's figure), through the real endpoint `GET /v1/statements?…&format=json`, next to a
 * Postgres `COPY … TO STDOUT` of the same rows measured in the same run, as a ratio; time and
 * peak memory of each, at N and at N/4 (the first quarter of the same period), so the reader
 * can see whether memory grows with N.
 *
 *   npx tsx bench/statement.ts             (BENCH_STATEMENT_ENTRIES=1000000 by default)
 *   BENCH_STATEMENT_ENTRIES=10000 npm run bench -- statement
 *
 * What is measured, each in a fresh Node process of its own (a child of the bench), so that its
 * memory is its own and nothing measured before it is still on its heap:
 *
 * - **statement**: the real app (`createApp`, in-process Postgres pool, auditor JWT) serving
 *   `GET /v1/statements` with `format=json`; the bench process is the HTTP client, reads the
 *   response as a stream, counts its bytes and keeps only its tail. Time is from the request to
 *   its last byte; it includes recording the statement, the balance checks before the first
 *   byte, and sealing its root after the last. The server has served one small statement
 *   (an hour of the period) before, so its pool is open and its code warm.
 * - **COPY entries ⋈ postings** (the issue's baseline): `COPY (SELECT e.*, p.* FROM
 *   journal_entries e JOIN postings p … WHERE clinic, asset, period ORDER BY e.created_at,
 *   e.id) TO STDOUT`, read by `pg` (a `Query` whose copy data is counted and dropped; npm
 *   `pg-copy-streams` is not installed and is not needed for that) — two rows per entry.
 * - **COPY statement query**, for reference: the same `COPY … TO STDOUT` of the statement's own
 *   line query, exactly as the server sent it (captured from its knex `query` event, bindings
 *   written in as literals): what Postgres alone spends on the statement's rows.
 *
 * Memory: the peak resident set of the measured process above what it held just before the
 * measurement (Linux: the kernel's high-water mark, `VmHWM`, reset through
 * `/proc/self/clear_refs` before; elsewhere RSS sampled every 100 ms), and its V8 `heapUsed`
 * sampled every 100 ms. Postgres's own memory is not counted (a sort is bounded by `work_mem`
 * and spills to disk beyond it). V8 lets garbage pile up to limits it sizes by the allocation
 * rate, so an uncapped peak says little about what is kept alive; the verification pass
 * therefore serves the whole N statement from a gateway whose old space is capped at
 * `VERIFY_OLD_SPACE_MB`: a statement whose live memory grew with N would kill it.
 *
 * Set-up (untimed, each step's time printed): a private Postgres with normal durability and
 * anvil; the token and factory; one clinic; then, in transactions of `SEED_CHUNK` entries
 * (`SEED_CONCURRENCY` at once), with set-based SQL (`INSERT … SELECT … FROM generate_series`):
 * an invoice per `ENTRIES_PER_INVOICE` entries, and per entry one confirmed payment transfer and
 * one `payment` journal entry with two postings (deposits +x, patient_payments −x), one second
 * apart inside the period, each naming its invoice and transfer (the line query joins both) — the
 * database's own checks (postings only in entries of their transaction, every entry balanced at
 * commit) and every foreign key run on every row. Then `VACUUM ANALYZE`, as autovacuum would
 * have done by the time an auditor asks, and a `CHECKPOINT`, so that writing the seed out does
 * not overlap the runs.
 *
 * Checks (a run that fails one is an error, not a figure): one untimed statement over the whole
 * period is read line by line and verified as it streams — numbering, the Merkle root recomputed
 * over the RFC 8785 JSON of every line, opening + postings = closing, N entry lines and
 * N/`ENTRIES_PER_INVOICE` invoice lines — and, up to `OFFLINE_VERIFY_MAX` entries, held whole and
 * given to `verifyStatementOffline` too. Every timed statement must end with the same
 * `line_count` and `merkle_root`; every COPY must return the expected number of rows.
 *
 * BENCH_STATEMENT_ROUNDS sets the rounds at N (default 2); BENCH_STATEMENT_EXPLAIN=1 prints
 * `EXPLAIN (ANALYZE, BUFFERS)` of the statement's line query at N after them. At one million
 * entries on the 2-core machine this was written on, seeding takes 2.5–5 minutes and the whole
 * benchmark 12–14 (on a machine other work shared now and then: figures vary by ±20% between runs).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Address } from 'viem';
import { invoiceNumberSequence } from '../src/billing/clinics.js';
import { createChainClient } from '../src/chain/client.js';
import { loadPaymentNetwork } from '../src/chain/paymentNetwork.js';
import { canonicalJson } from '../src/domain/canonicalJson.js';
import { leafHash, MerkleAccumulator } from '../src/domain/merkle.js';
import { signHs256Token } from '../src/identity/jwt.js';
import { accountId, assetOf } from '../src/ledger/ledger.js';
import { closeServer } from '../src/main.js';
import { createDb, type Db } from '../src/platform/db.js';
import { withTransaction } from '../src/platform/transaction.js';
import { STATEMENT_ACCOUNT_KINDS, type StatementDocument, type StatementLine, type StatementTrailer } from '../src/reports/statementDocument.js';
import { verifyStatementOffline } from '../src/reports/verifyStatement.js';
import { BenchStack, benchApp, createBenchClinic } from './benchStack.js';

/** The size the issue asks for. */
const ISSUE_ENTRIES = 1_000_000;
const ENTRIES = positiveInteger('BENCH_STATEMENT_ENTRIES', ISSUE_ENTRIES);
/** Timed rounds at N (each: COPY, statement, COPY of the statement's query); one round at N/4. */
const ROUNDS = positiveInteger('BENCH_STATEMENT_ROUNDS', 2);
/** BENCH_STATEMENT_EXPLAIN=1 also prints EXPLAIN (ANALYZE, BUFFERS) of the statement's line query at N, after the rounds. */
const EXPLAIN = process.env.BENCH_STATEMENT_EXPLAIN === '1';
/** Payments per invoice: an invoice line in the statement for every ten entry lines. */
const ENTRIES_PER_INVOICE = 10;
/** Entries (with their invoices, transfers and postings) written per seeding transaction; a multiple of ENTRIES_PER_INVOICE. */
const SEED_CHUNK = 100_000;
/** Seeding transactions run at once (the foreign-key and ledger triggers make each one CPU-bound in its backend). */
const SEED_CONCURRENCY = Math.max(1, Math.min(4, os.cpus().length));
/** Up to this many entries the verification pass also holds the whole document and runs `verifyStatementOffline` on it. */
const OFFLINE_VERIFY_MAX = 50_000;
/**
 * The verification pass's gateway runs with V8's old space capped at this many MB: if the
 * statement's memory grew with N, a long statement would end that process (out of memory).
 */
const VERIFY_OLD_SPACE_MB = 96;
/** Payers the transfers come from, in turn. */
const PAYERS = 5000;
/** Interval of the heap (and, off Linux, RSS) sampler in the measured processes. */
const SAMPLE_MS = 100;
/** The warm-up statement before each timed one covers the first hour of the period. */
const WARMUP_SECONDS = 3600;
const DATABASE = 'clinicpay_bench_statement';
const JWT = { issuer: 'clinicpay', audience: 'clinicpay-api' } as const;
const THIS_FILE = fileURLToPath(import.meta.url);

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

// ---------------------------------------------------------------------------------------------
// CPU and memory of the measured process (runs in the children)

const VM_HWM = /^VmHWM:\s+(\d+) kB$/m;

/** CPU time and peak memory since `start`: peak RSS from the kernel's high-water mark where there is one, else from the sampler. */
class ResourceWatch {
  private readonly kernel: boolean;
  private baselineRss = 0;
  private baselineHeap = 0;
  private baselineCpu: NodeJS.CpuUsage = { user: 0, system: 0 };
  private sampledRss = 0;
  private sampledHeap = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor() {
    let kernel = false;
    try {
      fs.writeFileSync('/proc/self/clear_refs', '5');
      kernel = VM_HWM.test(fs.readFileSync('/proc/self/status', 'utf8'));
    } catch {
      kernel = false;
    }
    this.kernel = kernel;
  }

  /** Starts a measurement: what the process holds now is its baseline. */
  start(): void {
    global.gc?.();
    if (this.kernel) fs.writeFileSync('/proc/self/clear_refs', '5');
    const usage = process.memoryUsage();
    this.baselineCpu = process.cpuUsage();
    [this.baselineRss, this.baselineHeap] = [usage.rss, usage.heapUsed];
    [this.sampledRss, this.sampledHeap] = [usage.rss, usage.heapUsed];
    clearInterval(this.timer);
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  private sample(): void {
    const usage = process.memoryUsage();
    this.sampledRss = Math.max(this.sampledRss, usage.rss);
    this.sampledHeap = Math.max(this.sampledHeap, usage.heapUsed);
  }

  stop(): ResourceFigures {
    this.sample();
    clearInterval(this.timer);
    this.timer = undefined;
    const peakRss = this.kernel ? Number(VM_HWM.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]) * 1024 : this.sampledRss;
    const cpu = process.cpuUsage(this.baselineCpu);
    return {
      baselineRss: this.baselineRss,
      peakRss,
      baselineHeap: this.baselineHeap,
      peakHeap: this.sampledHeap,
      cpuMs: (cpu.user + cpu.system) / 1000,
      source: this.kernel ? 'VmHWM' : 'sampled',
    };
  }
}

interface ResourceFigures {
  baselineRss: number;
  peakRss: number;
  baselineHeap: number;
  peakHeap: number;
  /** CPU time the process used (user + system), all its threads. */
  cpuMs: number;
  source: 'VmHWM' | 'sampled';
}

// ---------------------------------------------------------------------------------------------
// The children: the gateway, and the COPY reader

/** What a child is given (as JSON in its argv). */
interface ChildConfig {
  databaseUrl: string;
  rpcUrl: string;
  token: Address;
  factory: Address;
  jwtSecret: string;
}

type ParentMessage = { type: 'measure' } | { type: 'report' } | { type: 'copy'; sql: string } | { type: 'exit' };

type ChildMessage =
  | { type: 'ready'; port?: number }
  | { type: 'measuring' }
  | { type: 'report'; memory: ResourceFigures; linesQuery: CapturedQuery | undefined }
  | { type: 'copied'; ms: number; bytes: number; rows: number; memory: ResourceFigures }
  | { type: 'error'; message: string };

interface CapturedQuery {
  sql: string;
  bindings: unknown[];
}

function send(message: ChildMessage): void {
  process.send!(message);
}

/**
 * The gateway as `npm start` builds it (minus the workers), listening on a free port. Reports
 * its memory between `measure` and `report`, and the statement line query it last sent.
 */
async function serveChild(config: ChildConfig): Promise<void> {
  const chain = createChainClient({ rpcUrl: config.rpcUrl, timeoutMs: 10_000 });
  const network = await loadPaymentNetwork({ chain, tokens: config.token, factory: config.factory, timeoutMs: 10_000 });
  const db = createDb({ connectionString: config.databaseUrl });
  let linesQuery: CapturedQuery | undefined;
  db.on('query', (query: { sql: string; bindings?: unknown[] }) => {
    if (query.sql.includes('UNION ALL') && query.sql.includes('FROM journal_entries e')) linesQuery = { sql: query.sql, bindings: query.bindings ?? [] };
  });
  const app = benchApp({ db, chain, network, jwt: { ...JWT, secret: config.jwtSecret } });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const watch = new ResourceWatch();
  process.on('message', (message: ParentMessage) => {
    void (async () => {
      if (message.type === 'measure') {
        linesQuery = undefined;
        watch.start();
        send({ type: 'measuring' });
      } else if (message.type === 'report') {
        send({ type: 'report', memory: watch.stop(), linesQuery });
      } else if (message.type === 'exit') {
        await closeServer(server, 2000);
        await db.destroy();
        process.exit(0);
      }
    })().catch((error: unknown) => send({ type: 'error', message: String(error) }));
  });
  send({ type: 'ready', port: (server.address() as { port: number }).port });
}

/** A `pg` query whose COPY … TO STDOUT data is counted and dropped as it arrives. */
class CountingCopy extends pg.Query {
  bytes = 0;

  // pg's Query drops copy data (this method is a no-op there, and untyped); pg-copy-streams is not installed.
  handleCopyData(message: { chunk: Buffer }): void {
    this.bytes += message.chunk.length;
  }
}

/** A `pg` client that runs one `COPY … TO STDOUT` per `copy` message, discarding the data. */
async function copyChild(config: ChildConfig): Promise<void> {
  const client = new pg.Client({ connectionString: config.databaseUrl, application_name: 'bench-copy' });
  await client.connect();
  await client.query('SELECT 1');
  const watch = new ResourceWatch();
  process.on('message', (message: ParentMessage) => {
    void (async () => {
      if (message.type === 'copy') {
        watch.start();
        const query = new CountingCopy(message.sql);
        const started = performance.now();
        const result = await new Promise<pg.QueryResult>((resolve, reject) => {
          query.on('end', resolve);
          query.on('error', reject);
          void client.query(query);
        });
        const ms = performance.now() - started;
        send({ type: 'copied', ms, bytes: query.bytes, rows: result.rowCount ?? -1, memory: watch.stop() });
      } else if (message.type === 'exit') {
        await client.end();
        process.exit(0);
      }
    })().catch((error: unknown) => send({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
  });
  send({ type: 'ready' });
}

/** A child process of this file in `mode`, and a way to talk to it. */
class Child {
  private readonly inbox: ChildMessage[] = [];
  private waiting: ((message: ChildMessage) => void) | undefined;
  private exited: Promise<number | null>;

  private constructor(private readonly process: ChildProcess) {
    process.on('message', (message: ChildMessage) => {
      if (this.waiting) {
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve(message);
      } else {
        this.inbox.push(message);
      }
    });
    this.exited = new Promise((resolve) => process.once('exit', (code) => resolve(code)));
  }

  static async start(
    mode: 'serve' | 'copy',
    config: ChildConfig,
    nodeOptions: readonly string[] = [],
  ): Promise<{ child: Child; ready: ChildMessage & { type: 'ready' } }> {
    const child = new Child(
      fork(THIS_FILE, ['--child', mode, JSON.stringify(config)], {
        // tsx for TypeScript; --expose-gc so that a measurement starts from a collected heap.
        execArgv: ['--import', import.meta.resolve('tsx'), '--expose-gc', ...nodeOptions],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    const ready = await child.next('ready');
    return { child, ready };
  }

  /** The next message, which must be of `type`. */
  async next<T extends ChildMessage['type']>(type: T): Promise<Extract<ChildMessage, { type: T }>> {
    const message =
      this.inbox.shift() ??
      (await Promise.race([
        new Promise<ChildMessage>((resolve) => (this.waiting = resolve)),
        this.exited.then((code): ChildMessage => ({ type: 'error', message: `the child exited with code ${code}` })),
      ]));
    if (message.type === 'error') throw new Error(`bench child: ${message.message}`);
    if (message.type !== type) throw new Error(`bench child answered ${message.type}, expected ${type}`);
    return message as Extract<ChildMessage, { type: T }>;
  }

  async ask<T extends ChildMessage['type']>(message: ParentMessage, type: T): Promise<Extract<ChildMessage, { type: T }>> {
    this.process.send(message);
    return this.next(type);
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.send({ type: 'exit' } satisfies ParentMessage);
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Seeding

interface SeedParameters {
  clinicId: string;
  settlement: string;
  chainId: number;
  token: string;
  symbol: string;
  decimals: number;
  factory: string;
  asset: string;
  from: Date;
  /** Whether invoices have a checkout_token_hash column to fill. */
  checkoutToken: boolean;
}

interface Seed {
  clinicId: string;
  asset: string;
  /** The period [from, to): entry i at from + i s + 0.5 s; invoice j at from + 10·j s. */
  from: Date;
  to: Date;
}

/**
 * Writes invoices, transfers, journal entries and postings for entries [lo, hi) in one
 * transaction, each table in one set-based INSERT. Everything is a function of the entry's
 * index, so the four statements agree without reading each other's rows.
 */
async function seedChunk(db: Db, params: SeedParameters, lo: number, hi: number): Promise<void> {
  const { checkoutToken, ...values } = params;
  const bindings = {
    ...values,
    from: params.from.toISOString(),
    lo,
    hi: hi - 1,
    ilo: lo / ENTRIES_PER_INVOICE,
    ihi: Math.ceil(hi / ENTRIES_PER_INVOICE) - 1,
    per: ENTRIES_PER_INVOICE,
    payers: PAYERS,
    deposits: accountId(params.clinicId, 'deposits', params.asset),
    patient: accountId(params.clinicId, 'patient_payments', params.asset),
  };
  // Invoice j: 100.00–999.99 HKD, paid in ENTRIES_PER_INVOICE equal payments.
  const cents = (j: string) => `(10000 + (${j} * 7919) % 90000)`;
  const due = (j: string) => `(${cents(j)} * power(10::numeric, :decimals::int - 2))::numeric(78,0)`;
  const hex40 = (seed: string) => `'0x' || substr(md5(${seed}) || md5('x' || ${seed}), 1, 40)`;
  const hex64 = (seed: string) => `'0x' || md5(${seed}) || md5('x' || ${seed})`;
  const invoiceId = (j: string) => `'inv_' || substr(md5('inv' || ${j}), 1, 24)`;
  const transferId = (i: string) => `'pay_' || substr(md5('pay' || ${i}), 1, 24)`;
  const entryId = (i: string) => `'je_' || substr(md5('je' || ${i}), 1, 24)`;
  const at = (seconds: string) => `(:from::timestamptz + (${seconds}) * interval '1 second')`;
  // The checkout token's hash (migration 0007, where present): hex SHA-256, as checkoutTokenHash makes them.
  const [tokenColumn, tokenValue] = checkoutToken ? [', checkout_token_hash', `, encode(sha256(convert_to('checkout' || j, 'UTF8')), 'hex')`] : ['', ''];
  await withTransaction(db, async (trx) => {
    await trx.raw(
      `INSERT INTO invoices (id, clinic_id, number, status, currency, amount_due, token_chain_id, token_address, token_symbol, token_decimals,
         token_amount_due, token_amount_paid, settlement_address, deposit_salt, deposit_address, factory_address, patient_ref, line_items,
         metadata, expires_at, created_at, paid_at${tokenColumn})
       SELECT ${invoiceId('j')}, :clinicId, j + 1, 'paid', 'HKD', (${cents('j')}::numeric / 100)::numeric(12,2), :chainId, :token, :symbol, :decimals,
              ${due('j')}, ${due('j')}, :settlement, ${hex64("'salt' || j")}, ${hex40("'dep' || j")}, :factory, 'P-' || j,
              jsonb_build_array(jsonb_build_object('description', 'Consultation', 'quantity', 1, 'unit_amount', (${cents('j')}::numeric / 100)::numeric(12,2)::text)),
              '{}', ${at(':per * j')} + interval '7 days', ${at(':per * j')}, ${at(':per * j + :per')}${tokenValue}
         FROM generate_series(:ilo::int, :ihi::int) AS j`,
      bindings,
    );
    // Two transfers a block; posted 6 s (three blocks) after their block.
    await trx.raw(
      `INSERT INTO transfers (id, chain_id, tx_hash, log_index, block_number, block_hash, block_timestamp, token_address, from_address, to_address,
         amount, kind, invoice_id, clinic_id, status, generation, seen_at, confirmed_at, confirmations)
       SELECT ${transferId('i')}, :chainId, ${hex64("'tx' || i")}, i % 2, 1000 + i / 2, ${hex64("'block' || (i / 2)")}, ${at('i - i % 2 - 6')},
              :token, ${hex40("'payer' || (i % :payers)")}, ${hex40("'dep' || (i / :per)")}, ${due('(i / :per)')} / :per, 'payment',
              ${invoiceId('(i / :per)')}, :clinicId, 'confirmed', 0, ${at('i - i % 2 - 6')}, ${at('i + 0.5')}, 3
         FROM generate_series(:lo::int, :hi::int) AS i`,
      bindings,
    );
    await trx.raw(
      `INSERT INTO journal_entries (id, idempotency_key, kind, clinic_id, invoice_id, transfer_id, created_at)
       SELECT ${entryId('i')}, 'payment:' || ${transferId('i')} || ':0', 'payment', :clinicId, ${invoiceId('(i / :per)')}, ${transferId('i')}, ${at('i + 0.5')}
         FROM generate_series(:lo::int, :hi::int) AS i`,
      bindings,
    );
    await trx.raw(
      `INSERT INTO postings (entry_id, account_id, asset, amount)
       SELECT ${entryId('i')}, side.account, :asset, side.sign * (${due('(i / :per)')} / :per)
         FROM generate_series(:lo::int, :hi::int) AS i
        CROSS JOIN (VALUES (1, :deposits::text, 1), (2, :patient::text, -1)) AS side (n, account, sign)
        ORDER BY i, side.n`,
      bindings,
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Reading a statement

interface StatementRead {
  ms: number;
  /** Time to the response headers (sent with the statement's first bytes, after the balance checks). */
  firstByteMs: number;
  /** Time to the first line drawn from the ledger (the third text line: header, opening balance, then it). */
  firstRowMs: number | undefined;
  bytes: number;
  trailer: StatementTrailer;
}

/**
 * GET `url` and read the body as a stream: its bytes counted, its tail kept (for the trailer),
 * and each text line handed to `onLine` when one is given.
 */
async function readStatement(url: string, token: string, onLine?: (text: string) => void): Promise<StatementRead> {
  const started = performance.now();
  return new Promise<StatementRead>((resolve, reject) => {
    const request = http.get(url, { headers: { authorization: `Bearer ${token}` } }, (response) => {
      const firstByteMs = performance.now() - started;
      let bytes = 0;
      let tail = '';
      let pending = '';
      let head = '';
      let firstRowMs: number | undefined;
      response.setEncoding('utf8');
      if (response.statusCode !== 200) {
        let body = '';
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => reject(new Error(`GET ${url} answered ${response.statusCode}: ${body.slice(0, 500)}`)));
        return;
      }
      response.on('data', (chunk: string) => {
        bytes += Buffer.byteLength(chunk);
        tail = (tail + chunk).slice(-8192);
        if (firstRowMs === undefined) {
          head += chunk;
          const second = head.indexOf('\n', head.indexOf('\n') + 1);
          if (head.indexOf('\n') >= 0 && second >= 0 && head.length > second + 1) firstRowMs = performance.now() - started;
        }
        if (onLine) {
          const texts = (pending + chunk).split('\n');
          pending = texts.pop()!;
          for (const text of texts) onLine(text);
        }
      });
      response.on('error', reject);
      response.on('aborted', () =>
        reject(new Error(`GET ${url}: the response was cut off after ${bytes} bytes (the statement failed mid-stream; see the server's log)`)),
      );
      response.on('end', () => {
        const ms = performance.now() - started;
        if (onLine && pending !== '') onLine(pending);
        // The document ends "\n],<trailer fields>}\n".
        const at = tail.lastIndexOf('\n],');
        if (at < 0) return reject(new Error(`GET ${url}: ${bytes} bytes that do not end like a statement: …${JSON.stringify(tail.slice(-200))}`));
        let trailer: StatementTrailer;
        try {
          trailer = JSON.parse(`{${tail.slice(at + 3)}`) as StatementTrailer;
        } catch (error) {
          return reject(new Error(`GET ${url}: the statement's trailer does not parse: ${String(error)}`));
        }
        resolve({ ms, firstByteMs, firstRowMs, bytes, trailer });
      });
    });
    request.on('error', reject);
  });
}

/**
 * Checks a statement as its text lines stream past, holding nothing but running sums: the
 * numbering, the Merkle root over every line's RFC 8785 JSON, opening + postings = closing, and
 * the number of lines of each type.
 */
class StreamingVerifier {
  private readonly tree = new MerkleAccumulator();
  private readonly running = new Map<string, bigint>();
  private header: Omit<StatementDocument, 'lines'> | undefined;
  private expectedLine = 1;
  private closing: StatementLine | undefined;
  readonly counts = new Map<string, number>();
  readonly problems: string[] = [];
  /** The whole document, kept only when asked for (small N). */
  readonly kept: string[] | undefined;

  constructor(keep: boolean) {
    this.kept = keep ? [] : undefined;
  }

  line(text: string): void {
    this.kept?.push(text);
    if (this.header === undefined) {
      // "{…header…,"lines":["
      this.header = JSON.parse(`${text}]}`) as Omit<StatementDocument, 'lines'>;
      return;
    }
    if (text.startsWith('],') || text === '') return;
    const line = JSON.parse(text.endsWith(',') ? text.slice(0, -1) : text) as StatementLine;
    if (this.problems.length > 10) return;
    if (line.line !== this.expectedLine) this.problems.push(`line ${line.line} where ${this.expectedLine} belongs`);
    this.expectedLine += 1;
    this.tree.push(leafHash(canonicalJson(line)));
    this.counts.set(line.type, (this.counts.get(line.type) ?? 0) + 1);
    if (line.type === 'opening_balance') {
      for (const kind of STATEMENT_ACCOUNT_KINDS) this.running.set(kind, BigInt(line.balances[kind]));
    } else if (line.type === 'closing_balance') {
      this.closing = line;
    } else if (line.type !== 'invoice') {
      let sum = 0n;
      for (const [kind, amount] of Object.entries(line.postings)) {
        sum += BigInt(amount!);
        this.running.set(kind, (this.running.get(kind) ?? 0n) + BigInt(amount!));
      }
      if (sum !== 0n) this.problems.push(`line ${line.line}: its postings sum to ${sum}`);
    }
  }

  /** Problems found, given the trailer the statement ended with. */
  finish(trailer: StatementTrailer): string[] {
    const problems = [...this.problems];
    const root = this.tree.root().toString('hex');
    if (root !== trailer.merkle_root) problems.push(`the lines give the root ${root}, the statement says ${trailer.merkle_root}`);
    if (trailer.line_count !== this.tree.size) problems.push(`line_count ${trailer.line_count}, but ${this.tree.size} lines`);
    if (this.closing?.type !== 'closing_balance') problems.push('no closing balance line');
    else {
      for (const kind of STATEMENT_ACCOUNT_KINDS) {
        if ((this.running.get(kind) ?? 0n) !== BigInt(this.closing.balances[kind]))
          problems.push(`${kind}: opening + postings = ${this.running.get(kind)}, closing says ${this.closing.balances[kind]}`);
      }
    }
    return problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface Period {
  label: string;
  from: Date;
  to: Date;
  entries: number;
  invoices: number;
}

interface Measurement {
  what: 'statement' | 'copy' | 'copy-lines';
  period: Period;
  round: number;
  ms: number;
  firstByteMs?: number;
  firstRowMs?: number;
  bytes: number;
  /** Statement lines, or rows copied. */
  rows: number;
  memory: ResourceFigures;
}

interface Stack {
  config: ChildConfig;
  seed: Seed;
  token: string;
}

function statementUrl(port: number, clinicId: string, period: { from: Date; to: Date }): string {
  const query = new URLSearchParams({ clinic_id: clinicId, from: period.from.toISOString(), to: period.to.toISOString(), format: 'json' });
  return `http://127.0.0.1:${port}/v1/statements?${query}`;
}

/**
 * One statement of `period` from a fresh gateway process (after a warm-up statement of the
 * period's first hour), with the query it sent for its lines.
 */
async function measureStatement(
  stack: Stack,
  period: Period,
  round: number,
): Promise<{ measurement: Measurement; trailer: StatementTrailer; linesQuery: CapturedQuery }> {
  const { child, ready } = await Child.start('serve', stack.config);
  try {
    const port = ready.port!;
    const warmTo = new Date(Math.min(period.to.getTime(), period.from.getTime() + WARMUP_SECONDS * 1000));
    await readStatement(statementUrl(port, stack.seed.clinicId, { from: period.from, to: warmTo }), stack.token);
    await child.ask({ type: 'measure' }, 'measuring');
    const read = await readStatement(statementUrl(port, stack.seed.clinicId, period), stack.token);
    const report = await child.ask({ type: 'report' }, 'report');
    if (!report.linesQuery) throw new Error('the server sent no statement line query (has its SQL changed? see serveChild)');
    return {
      measurement: {
        what: 'statement',
        period,
        round,
        ms: read.ms,
        firstByteMs: read.firstByteMs,
        firstRowMs: read.firstRowMs,
        bytes: read.bytes,
        rows: read.trailer.line_count,
        memory: report.memory,
      },
      trailer: read.trailer,
      linesQuery: report.linesQuery,
    };
  } finally {
    await child.stop();
  }
}

/** One COPY … TO STDOUT of `sql` from a fresh process. */
async function measureCopy(stack: Stack, what: 'copy' | 'copy-lines', period: Period, round: number, sql: string): Promise<Measurement> {
  const { child } = await Child.start('copy', stack.config);
  try {
    const copied = await child.ask({ type: 'copy', sql: `COPY (${sql}) TO STDOUT` }, 'copied');
    return { what, period, round, ms: copied.ms, bytes: copied.bytes, rows: copied.rows, memory: copied.memory };
  } finally {
    await child.stop();
  }
}

/** The issue's baseline: the period's journal entries of the clinic joined with their postings, in statement order. */
function entriesWithPostingsSql(seed: Seed, period: Period): string {
  const literal = (value: string) => pg.Client.prototype.escapeLiteral(value);
  return `SELECT e.*, p.* FROM journal_entries e JOIN postings p ON p.entry_id = e.id
     WHERE e.clinic_id = ${literal(seed.clinicId)} AND p.asset = ${literal(seed.asset)}
       AND e.created_at >= ${literal(period.from.toISOString())} AND e.created_at < ${literal(period.to.toISOString())}
     ORDER BY e.created_at, e.id, p.id`;
}

/** The captured query with its bindings written in as literals (COPY takes no parameters). */
function inlined(query: CapturedQuery): string {
  const literal = (value: unknown) => {
    if (value === null) return 'NULL';
    if (typeof value === 'number') return String(value);
    return pg.Client.prototype.escapeLiteral(String(value));
  };
  let position = 0;
  const sql = query.sql.replace(/\$(\d+)|\?/g, (_match, index: string | undefined) =>
    literal(query.bindings[index === undefined ? position++ : Number(index) - 1]),
  );
  return sql;
}

// ---------------------------------------------------------------------------------------------
// Output

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function printTable(header: readonly string[], body: readonly (readonly string[])[]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((line) => line[column]!.length)));
  const line = (values: readonly string[]) =>
    values.map((value, column) => (column <= 1 ? value.padEnd(widths[column]!) : value.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const values of body) console.log(line(values));
}

const LABELS: Record<Measurement['what'], string> = {
  statement: 'statement (HTTP, JSON)',
  copy: 'COPY entries ⋈ postings',
  'copy-lines': 'COPY statement query',
};

function printMeasurements(measurements: readonly Measurement[]): void {
  printTable(
    [
      'run',
      'period',
      'entries',
      'rows/lines',
      'MB',
      'time s',
      'first byte s',
      'first row s',
      'MB/s',
      'Node CPU s',
      'RSS idle MB',
      'RSS peak MB',
      'peak − idle MB',
      'heap peak − idle MB',
    ],
    measurements.map((m) => [
      `${LABELS[m.what]} #${m.round}`,
      m.period.label,
      String(m.period.entries),
      String(m.rows),
      mb(m.bytes),
      (m.ms / 1000).toFixed(2),
      m.firstByteMs === undefined ? '' : (m.firstByteMs / 1000).toFixed(2),
      m.firstRowMs === undefined ? '' : (m.firstRowMs / 1000).toFixed(2),
      (m.bytes / 1024 / 1024 / (m.ms / 1000)).toFixed(1),
      (m.memory.cpuMs / 1000).toFixed(1),
      mb(m.memory.baselineRss),
      mb(m.memory.peakRss),
      mb(m.memory.peakRss - m.memory.baselineRss),
      mb(m.memory.peakHeap - m.memory.baselineHeap),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/**
 * Starts a private Postgres and anvil, seeds one clinic with N payment entries, verifies one
 * statement of the period, then measures the statement and the COPYs `ROUNDS` times at N and
 * once at N/4, prints the figures and the ratio, and stops everything. Throws when a run is not
 * valid.
 */
export async function runStatementBench(): Promise<void> {
  const bench = BenchStack.create('statement');
  const step = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await f();
    console.log(`set-up: ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    return result;
  };
  try {
    console.log(
      `Statement of one clinic over ${ENTRIES} journal entries (the issue asks for ${ISSUE_ENTRIES}; BENCH_STATEMENT_ENTRIES sets N), ${ROUNDS} rounds at N and one at N/4.`,
    );
    const { postgres, anvil } = await step('start Postgres and anvil', () => bench.startPostgresAndAnvil());
    const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 10_000 });
    const network = await step('deploy token and factory', async () => {
      return bench.deployNetwork(chain, anvil);
    });
    if (network.token.decimals < 3)
      throw new Error(`the seed splits invoices into tenths of a cent's base units; a token of ${network.token.decimals} decimals cannot`);

    const databaseUrl = postgres.urlFor(DATABASE);
    const { db, clinic } = await step('create database, migrate, one clinic', async () => {
      const db = await bench.migratedDatabase(postgres, DATABASE);
      const clinic = await withTransaction(db, (trx) => createBenchClinic(trx));
      return { db, clinic };
    });

    // The period ends a day ago (a statement covers only what has happened), on a whole second.
    const to = new Date(Math.floor(Date.now() / 1000) * 1000 - 86_400_000);
    const from = new Date(to.getTime() - ENTRIES * 1000);
    const asset = assetOf(network.chainId, network.token.address);
    const seed: Seed = { clinicId: clinic.id, asset, from, to };
    const invoices = Math.ceil(ENTRIES / ENTRIES_PER_INVOICE);
    const seedStarted = performance.now();
    await step(
      `seed: ${invoices} invoices, ${ENTRIES} transfers, ${ENTRIES} entries, ${2 * ENTRIES} postings (transactions of ${SEED_CHUNK} entries, ${SEED_CONCURRENCY} at once)`,
      async () => {
        await db('ledger_accounts').insert(
          (['deposits', 'patient_payments'] as const).map((kind) => ({ id: accountId(clinic.id, kind, asset), clinic_id: clinic.id, kind, asset })),
        );
        const params: SeedParameters = {
          checkoutToken: await db.schema.hasColumn('invoices', 'checkout_token_hash'),
          clinicId: clinic.id,
          settlement: clinic.settlement_address,
          chainId: network.chainId,
          token: network.token.address.toLowerCase(),
          symbol: network.token.symbol,
          decimals: network.token.decimals,
          factory: network.factory.toLowerCase(),
          asset,
          from,
        };
        let next = 0;
        const worker = async () => {
          for (let lo = next; lo < ENTRIES; lo = next) {
            next += SEED_CHUNK;
            const started = performance.now();
            const hi = Math.min(ENTRIES, lo + SEED_CHUNK);
            await seedChunk(db, params, lo, hi);
            if (ENTRIES > SEED_CHUNK) console.log(`  entries ${lo}–${hi - 1}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
          }
        };
        await Promise.all(Array.from({ length: SEED_CONCURRENCY }, worker));
        await db.raw('SELECT setval(?, ?)', [invoiceNumberSequence(clinic.id), invoices]);
      },
    );
    // As autovacuum would have by the time an auditor asks; the checkpoint writes the seed out now rather than during the runs.
    await step('VACUUM ANALYZE, CHECKPOINT', async () => {
      await db.raw('VACUUM ANALYZE');
      await db.raw('CHECKPOINT');
    });
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    const counts = (await db.raw(
      `SELECT (SELECT count(*) FROM journal_entries) AS entries, (SELECT count(*) FROM postings) AS postings, (SELECT count(*) FROM invoices) AS invoices,
              (SELECT count(*) FROM transfers) AS transfers, pg_size_pretty(pg_database_size(current_database())) AS size`,
    )) as { rows: { entries: string; postings: string; invoices: string; transfers: string; size: string }[] };
    const seeded = counts.rows[0]!;
    if (
      Number(seeded.entries) !== ENTRIES ||
      Number(seeded.postings) !== 2 * ENTRIES ||
      Number(seeded.invoices) !== invoices ||
      Number(seeded.transfers) !== ENTRIES
    ) {
      throw new Error(
        `the seed wrote ${JSON.stringify(seeded)}, not ${ENTRIES} entries, ${2 * ENTRIES} postings, ${invoices} invoices and ${ENTRIES} transfers`,
      );
    }
    console.log(`set-up: seeding with VACUUM ANALYZE and CHECKPOINT took ${seedSeconds.toFixed(1)} s; the database is ${seeded.size}`);

    const jwtSecret = randomBytes(32).toString('hex');
    const stack: Stack = {
      config: { databaseUrl, rpcUrl: anvil.rpcUrl, token: network.token.address, factory: network.factory, jwtSecret },
      seed,
      token: signHs256Token({ secret: jwtSecret, ...JWT, role: 'auditor', sub: 'bench-auditor', ttlSeconds: 24 * 3600 }),
    };
    const full: Period = { label: 'N', from, to, entries: ENTRIES, invoices };
    const quarterEntries = Math.floor(ENTRIES / 4);
    const quarter: Period = {
      label: 'N/4',
      from,
      to: new Date(from.getTime() + quarterEntries * 1000),
      entries: quarterEntries,
      invoices: Math.ceil(quarterEntries / ENTRIES_PER_INVOICE),
    };

    // Verification pass (untimed): also brings the tables into Postgres's cache for every run after it.
    const verified = await step(
      `verify one statement of the whole period as it streams (its gateway's V8 old space capped at ${VERIFY_OLD_SPACE_MB} MB)`,
      async () => {
        const { child, ready } = await Child.start('serve', stack.config, [`--max-old-space-size=${VERIFY_OLD_SPACE_MB}`]);
        try {
          const verifier = new StreamingVerifier(ENTRIES <= OFFLINE_VERIFY_MAX);
          await child.ask({ type: 'measure' }, 'measuring');
          const read = await readStatement(statementUrl(ready.port!, clinic.id, full), stack.token, (text) => verifier.line(text));
          const { memory } = await child.ask({ type: 'report' }, 'report');
          const problems = verifier.finish(read.trailer);
          const expected = { opening_balance: 1, closing_balance: 1, invoice: invoices, payment: ENTRIES };
          for (const [type, count] of Object.entries(expected)) {
            if (verifier.counts.get(type) !== count) problems.push(`${verifier.counts.get(type) ?? 0} ${type} lines, not ${count}`);
          }
          if (verifier.counts.size !== Object.keys(expected).length) problems.push(`line types ${[...verifier.counts.keys()].join(', ')}`);
          if (verifier.kept) {
            const report = verifyStatementOffline(JSON.parse(verifier.kept.join('\n')) as StatementDocument);
            if (!report.ok)
              problems.push(
                `verifyStatementOffline: ${report.failures
                  .slice(0, 5)
                  .map((failure) => `${failure.line ?? ''} ${failure.reason}`)
                  .join('; ')}`,
              );
            else console.log(`  verifyStatementOffline on the whole document: ok (${report.notes.join('; ')})`);
          }
          if (problems.length > 0) throw new Error(`the statement is not valid: ${problems.slice(0, 10).join('; ')}`);
          console.log(
            `  ${read.trailer.line_count} lines, ${mb(read.bytes)} MB, root ${read.trailer.merkle_root}: numbering, root, balances and line counts check out`,
          );
          console.log(
            `  the capped gateway served it whole: heapUsed ${mb(memory.baselineHeap)} MB idle, ${mb(memory.peakHeap)} MB at most (sampled); ` +
              `RSS ${mb(memory.baselineRss)} MB idle, ${mb(memory.peakRss)} MB peak`,
          );
          return { trailer: read.trailer, memory };
        } finally {
          await child.stop();
        }
      },
    );

    const measurements: Measurement[] = [];
    let fullLinesQuery: CapturedQuery | undefined;
    const measureRound = async (period: Period, round: number, expectedLines: number, expectedRoot: string | undefined) => {
      measurements.push(await measureCopy(stack, 'copy', period, round, entriesWithPostingsSql(seed, period)));
      const statement = await measureStatement(stack, period, round);
      if (statement.trailer.line_count !== expectedLines)
        throw new Error(`a ${period.label} statement has ${statement.trailer.line_count} lines, not ${expectedLines}`);
      if (expectedRoot !== undefined && statement.trailer.merkle_root !== expectedRoot)
        throw new Error(`a ${period.label} statement's root is ${statement.trailer.merkle_root}, the verified one ${expectedRoot}`);
      measurements.push(statement.measurement);
      if (period === full) fullLinesQuery = statement.linesQuery;
      measurements.push(await measureCopy(stack, 'copy-lines', period, round, inlined(statement.linesQuery)));
      for (const m of measurements.slice(-3)) {
        const rows = m.what === 'copy' ? 2 * period.entries : m.what === 'copy-lines' ? period.entries + period.invoices : period.entries + period.invoices + 2;
        if (m.rows !== rows) throw new Error(`${LABELS[m.what]} of ${period.label} returned ${m.rows} rows, not ${rows}`);
      }
      console.log(`round ${round} at ${period.label} done`);
    };
    for (let round = 1; round <= ROUNDS; round++) await measureRound(full, round, ENTRIES + invoices + 2, verified.trailer.merkle_root);
    await measureRound(quarter, 1, quarter.entries + quarter.invoices + 2, undefined);

    console.log('');
    console.log(
      `One clinic, ${ENTRIES} payment entries (2 postings each, a confirmed transfer each) and ${invoices} invoices over ${(ENTRIES / 86400).toFixed(1)} days; ` +
        `Postgres with fsync on and its default settings (shared_buffers, work_mem); ${os.cpus().length} CPUs; each run in a fresh Node process; the tables VACUUM ANALYZEd and read once before.`,
    );
    console.log(
      'statement: GET /v1/statements?format=json on the real app (auditor JWT), read as a stream and dropped; time from request to last byte; first byte = after recording the statement and its balance checks; first row = the first line drawn from the line query (after the opening balance).',
    );
    console.log(
      "COPY entries ⋈ postings: COPY (SELECT e.*, p.* FROM journal_entries e JOIN postings p … ORDER BY e.created_at, e.id) TO STDOUT, read by pg and dropped (the issue's baseline).",
    );
    console.log(
      "COPY statement query: COPY of the statement's own line query, as the server sent it, TO STDOUT (what Postgres alone spends on the statement's rows).",
    );
    console.log(
      'Node CPU: CPU time of the measured Node process (the gateway; the COPY reader) during the run. Memory of that process: peak RSS (kernel high-water mark) and heapUsed (sampled every 100 ms), each above what it held just before (idle).',
    );
    console.log('');
    printMeasurements(measurements);
    console.log('');

    const pick = (what: Measurement['what'], period: Period) => measurements.filter((m) => m.what === what && m.period === period);
    const statementMs = median(pick('statement', full).map((m) => m.ms));
    const copyMs = median(pick('copy', full).map((m) => m.ms));
    const linesMs = median(pick('copy-lines', full).map((m) => m.ms));
    const growth = (what: Measurement['what'], period: Period, f: (m: ResourceFigures) => number) => Math.max(...pick(what, period).map((m) => f(m.memory)));
    const rssGrowth = (m: ResourceFigures) => m.peakRss - m.baselineRss;
    const heapGrowth = (m: ResourceFigures) => m.peakHeap - m.baselineHeap;
    const statementBytes = pick('statement', full)[0]!.bytes;
    const copyBytes = pick('copy', full)[0]!.bytes;
    console.log(
      `Median at N = ${ENTRIES}: statement ${(statementMs / 1000).toFixed(1)} s (${((ENTRIES / statementMs) * 1000).toFixed(0)} entries/s, ${mb(statementBytes)} MB), ` +
        `COPY entries ⋈ postings ${(copyMs / 1000).toFixed(1)} s (${mb(copyBytes)} MB): ratio ${(statementMs / copyMs).toFixed(1)}x. ` +
        `COPY of the statement's own query ${(linesMs / 1000).toFixed(1)} s (${(statementMs / linesMs).toFixed(1)}x). The issue sets no goal for the ratio.`,
    );
    console.log(
      `Peak memory above idle, statement process: ${mb(growth('statement', full, rssGrowth))} MB RSS / ${mb(growth('statement', full, heapGrowth))} MB heap at N, ` +
        `${mb(growth('statement', quarter, rssGrowth))} MB / ${mb(growth('statement', quarter, heapGrowth))} MB at N/4; ` +
        `COPY process: ${mb(growth('copy', full, rssGrowth))} MB / ${mb(growth('copy', full, heapGrowth))} MB at N, ${mb(growth('copy', quarter, rssGrowth))} MB / ${mb(growth('copy', quarter, heapGrowth))} MB at N/4. ` +
        'Flat memory means the N figures are no larger than the N/4 ones beyond noise (V8 grows its heap with the allocation rate, up to its own limits, however long the stream).',
    );
    console.log(
      `The verification pass served the whole N statement from a gateway whose V8 old space was capped at ${VERIFY_OLD_SPACE_MB} MB ` +
        `(heapUsed at most ${mb(verified.memory.peakHeap)} MB, ${mb(verified.memory.peakHeap - verified.memory.baselineHeap)} MB above idle, sampled): ` +
        `what the statement keeps alive stayed within that cap at N = ${ENTRIES}; the uncapped figures above are mostly garbage V8 had not yet collected.`,
    );
    console.log(`(memory source: ${measurements[0]!.memory.source}; seeding ${seedSeconds.toFixed(0)} s)`);
    if (EXPLAIN && fullLinesQuery) {
      const plan = (await db.raw(`EXPLAIN (ANALYZE, BUFFERS) ${inlined(fullLinesQuery)}`)) as { rows: { 'QUERY PLAN': string }[] };
      console.log('');
      console.log(`EXPLAIN (ANALYZE, BUFFERS) of the statement's line query at N:`);
      for (const row of plan.rows) console.log(row['QUERY PLAN']);
    }
  } finally {
    await bench.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === THIS_FILE) {
  const [flag, mode, config] = process.argv.slice(2);
  if (flag === '--child') {
    const run = mode === 'serve' ? serveChild : mode === 'copy' ? copyChild : undefined;
    if (!run || config === undefined) throw new Error(`unknown child mode ${mode}`);
    run(JSON.parse(config) as ChildConfig).catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
  } else {
    runStatementBench().catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  }
}
