/**
 * Throughput and latency of `POST /v1/invoices` on the real app, against the baseline of a
 * bare Express 5 app that parses the same JSON body and does one INSERT into the same Postgres
 * database through its own pool of the same size, both measured in the same run.
 *
 *   npx tsx bench/invoices.ts
 *
 * Postgres runs with normal durability (fsync and synchronous commit on), as in production.
 * The load generator (autocannon) runs in a worker thread so that it does not share the apps'
 * event loop. Every request carries a distinct `Idempotency-Key`; after each run the invoices
 * (or baseline rows) written are counted against the 201 responses sent, so a run that replayed,
 * failed or dropped requests is an error, not a figure.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import express, { type Express } from 'express';
import { CHAIN_BATCH, chainPendingAudit } from '../src/audit/auditLog.js';
import { createChainClient } from '../src/chain/client.js';
import { signHs256Token } from '../src/identity/jwt.js';
import { closeServer } from '../src/main.js';
import { createDb, type Db } from '../src/platform/db.js';
import { withTransaction } from '../src/platform/transaction.js';
import { BenchStack, benchApp, createBenchClinic } from './benchStack.js';

/** The goal: the real endpoint serves at least half the baseline's requests per second. */
const GOAL_RATIO = 0.5;
const CONNECTIONS = 16;
const WARMUP_SECONDS = 2;
const MEASURE_SECONDS = 10;
/** Baseline and real alternate, so drift in the machine (or the database) hits both. */
const ROUNDS = 2;
/** The app's pool size (`createDb`'s default); the baseline gets a pool of the same size. */
const POOL_MAX = 10;
const BODY_LIMIT_BYTES = 100 * 1024;
const DATABASE = 'clinicpay_bench';
/** The gateway's audit chainer rests this long when nothing waits (AUDIT_CHAIN_IDLE_MS in src/workers.ts). */
const CHAINER_IDLE_MS = 100;
const JWT = { secret: randomBytes(32).toString('hex'), issuer: 'clinicpay', audience: 'clinicpay-api' } as const;

/** A typical bill: a consultation, a course of medicine, a lab test. */
const INVOICE_BODY = JSON.stringify({
  patient_ref: 'PT-2024-004517',
  currency: 'HKD',
  line_items: [
    { description: 'General consultation', quantity: 1, unit_amount: '450.00' },
    { description: 'Amoxicillin 500 mg capsules', quantity: 21, unit_amount: '2.80' },
    { description: 'Full blood count', quantity: 1, unit_amount: '280.00' },
  ],
  metadata: { visit_id: 'V-20240917-0231', branch: 'central', doctor_code: 'DR-114' },
});

type Target = 'baseline' | 'real';

/**
 * An HTTP server that knows which of its responses have been ended, and with what status, so
 * that after a run it can wait for handlers the load generator cut off at its deadline.
 */
interface CountedServer {
  server: http.Server;
  url: string;
  /** Responses ended with 201 since the last `drain`. */
  drain(timeoutMs: number): Promise<number>;
}

async function listenCounted(app: Express): Promise<CountedServer> {
  const open = new Set<http.ServerResponse>();
  let created = 0;
  const settle = (res: http.ServerResponse) => {
    if (!res.writableEnded || !open.delete(res)) return;
    if (res.statusCode === 201) created++;
  };
  const server = http.createServer((req, res) => {
    open.add(res);
    res.on('finish', () => settle(res));
    void app(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    async drain(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      // A handler whose client went away still ends its response; 'finish' does not fire then.
      for (;;) {
        for (const res of open) settle(res);
        if (open.size === 0) break;
        if (Date.now() > deadline) throw new Error(`${open.size} requests still unanswered ${timeoutMs} ms after the run`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const count = created;
      created = 0;
      return count;
    },
  };
}

/** The baseline: parse the same JSON, one INSERT, a 201 with a small JSON body. */
function baselineApp(db: Db): Express {
  const app = express();
  app.use(express.json({ limit: BODY_LIMIT_BYTES }));
  app.post('/v1/invoices', async (req, res) => {
    const [row] = (await db('bench_baseline')
      .insert({ id: randomUUID(), body: JSON.stringify(req.body) })
      .returning(['id', 'created_at'])) as { id: string; created_at: Date }[];
    res.status(201).json({ object: 'bench_baseline', id: row!.id, created_at: row!.created_at.toISOString() });
  });
  return app;
}

interface Measurement {
  target: Target;
  round: number;
  requestsPerSecond: number;
  p50: number;
  p99: number;
  created: number;
}

/**
 * One autocannon run against `target`; then the checks that make its figures mean anything:
 * only 201s, nothing lost, and exactly one new row per 201 the server sent.
 */
async function drive(
  target: Target,
  server: CountedServer,
  countRows: () => Promise<number>,
  token: string,
  seconds: number,
): Promise<autocannon.Result & { created: number }> {
  const before = await countRows();
  await server.drain(1000); // resets the server-side tally
  const result = await autocannon({
    url: `${server.url}/v1/invoices`,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      // autocannon puts a fresh id in place of [<id>] each time it builds a request.
      'idempotency-key': 'bench-[<id>]',
    },
    idReplacement: true,
    body: INVOICE_BODY,
    connections: CONNECTIONS,
    duration: seconds,
    workers: 1,
  });
  const sent201 = await server.drain(30_000);
  const rows = (await countRows()) - before;
  const received201 = result.statusCodeStats?.['201']?.count ?? 0;
  const problems: string[] = [];
  if (result.non2xx !== 0) problems.push(`${result.non2xx} non-2xx responses (${JSON.stringify(result.statusCodeStats)})`);
  if (result['2xx'] !== received201) problems.push(`${result['2xx'] - received201} 2xx responses other than 201`);
  if (result.errors !== 0 || result.timeouts !== 0) problems.push(`${result.errors} connection errors, ${result.timeouts} timeouts`);
  if (result.resets !== 0) problems.push(`${result.resets} request pipeline resets`);
  if (rows !== sent201) problems.push(`${rows} rows written but ${sent201} 201 responses sent (replayed or lost requests)`);
  // Responses the server sent after autocannon's deadline closed the connections: at most one per connection.
  if (sent201 < received201 || sent201 - received201 > CONNECTIONS) problems.push(`${received201} 201s received but ${sent201} sent`);
  if (received201 === 0) problems.push('no request succeeded');
  if (problems.length > 0) throw new Error(`${target} run is not a valid measurement: ${problems.join('; ')}`);
  return { ...result, created: rows };
}

function measurement(target: Target, round: number, result: autocannon.Result & { created: number }): Measurement {
  return {
    target,
    round,
    requestsPerSecond: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    created: result.created,
  };
}

function printTable(rows: readonly Measurement[]): void {
  const header = ['run', 'req/s', 'p50 ms', 'p99 ms', 'rows written'];
  const body = rows.map((row) => [`${row.target} #${row.round}`, row.requestsPerSecond.toFixed(0), String(row.p50), String(row.p99), String(row.created)]);
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const cells of body) console.log(line(cells));
}

function meanThroughput(rows: readonly Measurement[], target: Target): number {
  const own = rows.filter((row) => row.target === target);
  return own.reduce((sum, row) => sum + row.requestsPerSecond, 0) / own.length;
}

/**
 * Starts a private Postgres and anvil, deploys the token and factory, serves the real app and
 * the baseline side by side, measures both in alternation, prints the table and whether the
 * goal is met, and stops everything again. Throws when a run is not a valid measurement.
 */
export async function runInvoiceBench(): Promise<void> {
  const stack = BenchStack.create('invoices');
  try {
    const { postgres, anvil } = await stack.startPostgresAndAnvil();

    const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 });
    const network = await stack.deployNetwork(chain, anvil);

    const db = await stack.migratedDatabase(postgres, DATABASE, POOL_MAX);
    const clinic = await withTransaction(db, (trx) => createBenchClinic(trx));

    const baselineDb = createDb({ connectionString: postgres.urlFor(DATABASE), poolMax: POOL_MAX, applicationName: 'bench-baseline' });
    stack.onStop(() => baselineDb.destroy());
    await baselineDb.raw('CREATE TABLE bench_baseline (id text PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())');

    const realApp = benchApp({ db, chain, network, jwt: JWT });
    const servers: Record<Target, CountedServer> = { baseline: await listenCounted(baselineApp(baselineDb)), real: await listenCounted(realApp) };
    for (const { server } of Object.values(servers)) stack.onStop(() => closeServer(server, 5000));

    const countRows: Record<Target, () => Promise<number>> = {
      baseline: async () => Number(((await db('bench_baseline').count({ n: '*' })) as { n: string }[])[0]!.n),
      real: async () => Number(((await db('invoices').where({ clinic_id: clinic.id }).count({ n: '*' })) as { n: string }[])[0]!.n),
    };
    const token = signHs256Token({ ...JWT, role: 'clinic_admin', sub: 'bench-admin', clinicId: clinic.id, ttlSeconds: 3600 });

    // The audit chainer runs alongside, on a connection of its own, as the gateway's worker does:
    // the figures include putting every invoice's audit event on the hash chain.
    const chainerDb = createDb({ connectionString: postgres.urlFor(DATABASE), poolMax: 1, applicationName: 'bench-chainer' });
    stack.onStop(() => chainerDb.destroy());
    let chaining = true;
    let chained = 0;
    const chainer = (async () => {
      while (chaining) {
        const moved = await chainPendingAudit(chainerDb, { maxRows: 10 * CHAIN_BATCH });
        chained += moved;
        if (moved === 0) await new Promise((resolve) => setTimeout(resolve, CHAINER_IDLE_MS));
      }
    })();
    stack.onStop(async () => {
      chaining = false;
      await chainer;
    });

    const order: Target[] = ['baseline', 'real'];
    for (const target of order) await drive(target, servers[target], countRows[target], token, WARMUP_SECONDS);
    const rows: Measurement[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const target of order) rows.push(measurement(target, round, await drive(target, servers[target], countRows[target], token, MEASURE_SECONDS)));
    }

    console.log(
      `POST /v1/invoices, ${CONNECTIONS} connections, ${MEASURE_SECONDS} s per run after a ${WARMUP_SECONDS} s warm-up each, ` +
        `Postgres with fsync on, pools of ${POOL_MAX}, one clinic, ${os.cpus().length} CPUs.`,
    );
    console.log(`Baseline: Express 5 + express.json() + one INSERT into the same database, same body.`);
    console.log('');
    printTable(rows);
    console.log('');
    const baseline = meanThroughput(rows, 'baseline');
    const real = meanThroughput(rows, 'real');
    const ratio = real / baseline;
    const waiting = Number(((await db('audit_inbox').count({ n: '*' })) as { n: string }[])[0]!.n);
    const drainStarted = performance.now();
    chained += await chainPendingAudit(db);
    const drainMs = performance.now() - drainStarted;
    const onChain = Number(((await db('audit_log').where({ action: 'invoice.created' }).count({ n: '*' })) as { n: string }[])[0]!.n);
    const invoices = await countRows.real();
    if (onChain !== invoices) throw new Error(`${invoices} invoices but ${onChain} invoice.created events on the audit chain`);
    console.log(
      `Audit chain: ${chained} events chained by the chainer alongside; ${waiting} waiting when the last run ended, chained in ${drainMs.toFixed(0)} ms; ` +
        `every one of the ${invoices} invoices is on the chain.`,
    );
    console.log(`Mean throughput: real ${real.toFixed(0)} req/s, baseline ${baseline.toFixed(0)} req/s, real/baseline ${ratio.toFixed(2)}x`);
    console.log(`Goal (real >= ${GOAL_RATIO} x baseline throughput): ${ratio >= GOAL_RATIO ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x).`);
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runInvoiceBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
