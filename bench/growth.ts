/**
 * Growth: does a statement get slower as a clinic's history grows? Two clinics with the same
 * last month of business, one with one year of history before it and one with five, each asked
 * for that month's JSON statement through the real endpoint (`GET /v1/statements?…&format=json`,
 * auditor JWT) in alternation. Printed: the median time to the first byte (after the statement
 * is recorded and its balances are computed and checked) and to the last, per clinic, and the
 * ratio five years / one year — the goal is at most 1.2× for the first byte. For reference, the
 * time of summing the older clinic's balances from its first posting (what a statement did before
 * balance checkpoints) is printed next to it.
 *
 *   npx tsx bench/growth.ts          (BENCH_GROWTH_PER_DAY=120 entries a day by default)
 *   npm run bench -- growth
 *
 * BENCH_GROWTH_ROUNDS sets the rounds (default 5); BENCH_GROWTH_PROFILE=1 also prints every query
 * of one statement per clinic with its time, and the plan of the period's movements (the query
 * that grew with the history until its LATERAL was kept from being flattened).
 *
 * Set-up (untimed, each step's time printed): a private Postgres with normal durability and
 * anvil; the token; two clinics; then, day by day over each clinic's history, `PER_DAY` journal
 * entries spread over the clinic's opening hours — payments (deposits +x, patient payments −x)
 * and, for every second one, its forward an hour later (settlement +x, deposits −x), HK$100–999 —
 * written with set-based SQL, so the ledger's own checks run on every row. Then every finished
 * day is closed (`closeLedgerDays`, as the reconciler does), the checkpoints are checked against
 * the postings (`checkLedgerCheckpoints`), and the tables are analyzed. A statement whose
 * balances differ from the sum of its clinic's postings is an error, not a figure.
 */
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createChainClient } from '../src/chain/client.js';
import { hongKongDayStart } from '../src/domain/hongKongDate.js';
import { signHs256Token } from '../src/identity/jwt.js';
import { checkLedgerCheckpoints, closeLedgerDays } from '../src/ledger/checkpoints.js';
import { accountId, assetOf } from '../src/ledger/ledger.js';
import { closeServer } from '../src/main.js';
import type { Db } from '../src/platform/db.js';
import { withTransaction } from '../src/platform/transaction.js';
import { BenchStack, benchApp, createBenchClinic } from './benchStack.js';

/** Journal entries a day: a busy clinic's 80 payments and 40 forwards. */
const PER_DAY = positiveInteger('BENCH_GROWTH_PER_DAY', 120);
const ROUNDS = positiveInteger('BENCH_GROWTH_ROUNDS', 5);
/** The goal: a month's statement starts as fast with five years of history as with one. */
const GOAL_RATIO = 1.2;
const DAY = 86_400_000;
/** The statement's month: the last 30 days of the history. */
const MONTH_DAYS = 30;
const DATABASE = 'clinicpay_bench_growth';
const JWT = { secret: 'growth-bench-secret-0123456789abcdef', issuer: 'clinicpay', audience: 'clinicpay-api' } as const;

function positiveInteger(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, not ${raw}`);
  return value;
}

interface Clinic {
  id: string;
  years: number;
}

/** Writes `days` days of entries for `clinic`, ending at `end`, a year per transaction. */
async function seedHistory(db: Db, clinic: Clinic, asset: string, end: Date): Promise<number> {
  const accounts = {
    deposits: accountId(clinic.id, 'deposits', asset),
    settlement: accountId(clinic.id, 'settlement', asset),
    patient: accountId(clinic.id, 'patient_payments', asset),
  };
  await db('ledger_accounts')
    .insert(
      Object.entries({ deposits: 'deposits', settlement: 'settlement', patient: 'patient_payments' }).map(([key, kind]) => ({
        id: accounts[key as keyof typeof accounts],
        clinic_id: clinic.id,
        kind,
        asset,
      })),
    )
    .onConflict('id')
    .ignore();
  const days = clinic.years * 365;
  const start = new Date(end.getTime() - days * DAY);
  for (let year = 0; year < clinic.years; year++) {
    const lo = year * 365 * PER_DAY;
    const hi = (year + 1) * 365 * PER_DAY - 1;
    const bindings = { clinic: clinic.id, start: start.toISOString(), perDay: PER_DAY, lo, hi, asset, ...accounts };
    // Entry i: day i / perDay, at 09:00 HK plus (i % perDay) · 4 minutes; every third is the forward of the one before, an hour later.
    const at = `(:start::timestamptz + (i / :perDay) * interval '1 day' + interval '9 hours' + (i % :perDay) * interval '4 minutes' + CASE WHEN i % 3 = 2 THEN interval '1 hour' ELSE interval '0' END)`;
    const amount = `((10000 + ((CASE WHEN i % 3 = 2 THEN i - 1 ELSE i END) * 7919) % 90000) * 10000)::numeric(78,0)`;
    const id = `'je_' || substr(md5(:clinic || i), 1, 24)`;
    await withTransaction(db, async (trx) => {
      await trx.raw(
        `INSERT INTO journal_entries (id, idempotency_key, kind, clinic_id, created_at)
         SELECT ${id}, 'growth:' || :clinic || ':' || i, CASE WHEN i % 3 = 2 THEN 'forward' ELSE 'payment' END, :clinic, ${at}
           FROM generate_series(:lo::int, :hi::int) AS i`,
        bindings,
      );
      await trx.raw(
        `INSERT INTO postings (entry_id, account_id, asset, amount)
         SELECT ${id}, CASE WHEN i % 3 = 2 THEN (CASE side WHEN 1 THEN :settlement ELSE :deposits END) ELSE (CASE side WHEN 1 THEN :deposits ELSE :patient END) END,
                :asset, CASE side WHEN 1 THEN ${amount} ELSE -${amount} END
           FROM generate_series(:lo::int, :hi::int) AS i CROSS JOIN (VALUES (1), (2)) AS s(side)
          ORDER BY i, side`,
        bindings,
      );
    });
  }
  return days * PER_DAY;
}

interface Read {
  firstByteMs: number;
  ms: number;
  opening: Record<string, string>;
  closing: Record<string, string>;
}

/** GETs a JSON statement as a stream; the header and trailer are parsed from the whole text (a month is small). */
function readStatement(url: string, token: string): Promise<Read> {
  const started = performance.now();
  return new Promise<Read>((resolve, reject) => {
    http
      .get(url, { headers: { authorization: `Bearer ${token}` } }, (response) => {
        const firstByteMs = performance.now() - started;
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('error', reject);
        response.on('end', () => {
          const ms = performance.now() - started;
          if (response.statusCode !== 200) return reject(new Error(`GET ${url} answered ${response.statusCode}: ${body.slice(0, 500)}`));
          const document = JSON.parse(body) as {
            opening_balance: { accounts: Record<string, string> };
            closing_balance: { accounts: Record<string, string> };
          };
          resolve({ firstByteMs, ms, opening: document.opening_balance.accounts, closing: document.closing_balance.accounts });
        });
      })
      .on('error', reject);
  });
}

/** Each account's balance before `at`, summed from the clinic's first posting (the old way; the check, and the reference figure). */
async function summedFromTheStart(db: Db, clinicId: string, asset: string, at: Date): Promise<{ balances: Record<string, string>; ms: number }> {
  const started = performance.now();
  const rows = (await db('postings')
    .join('journal_entries', 'journal_entries.id', 'postings.entry_id')
    .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
    .where({ 'journal_entries.clinic_id': clinicId, 'postings.asset': asset })
    .where('journal_entries.created_at', '<', at)
    .groupBy('ledger_accounts.kind')
    .select('ledger_accounts.kind', db.raw('sum(postings.amount)::text AS total'))) as { kind: string; total: string }[];
  return { balances: Object.fromEntries(rows.map((row) => [row.kind, row.total])), ms: performance.now() - started };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export async function runGrowthBench(): Promise<void> {
  const stack = BenchStack.create('growth');
  try {
    const { postgres, anvil } = await stack.startPostgresAndAnvil();
    const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 });
    const network = await stack.deployNetwork(chain, anvil);
    const db = await stack.migratedDatabase(postgres, DATABASE);
    const asset = assetOf(network.chainId, network.token.address);

    // The history ends at the start of today (Hong Kong); the statement is of its last 30 days.
    const end = hongKongDayStart(new Date());
    const month = { from: new Date(end.getTime() - MONTH_DAYS * DAY), to: end };
    const clinics: Clinic[] = [];
    for (const years of [1, 5]) {
      const clinic = await withTransaction(db, (trx) => createBenchClinic(trx, `Clinic with ${years} year(s)`));
      clinics.push({ id: clinic.id, years });
    }
    let started = performance.now();
    let entries = 0;
    for (const clinic of clinics) entries += await seedHistory(db, clinic, asset, end);
    console.log(`seeded ${entries} journal entries (${PER_DAY} a day; 1 and 5 years) in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    started = performance.now();
    let days = 0;
    for (;;) {
      const closed = await closeLedgerDays(db);
      if (closed === 0) break;
      days += closed;
    }
    console.log(`closed ${days} days (balance checkpoints) in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    started = performance.now();
    const check = await checkLedgerCheckpoints(db);
    if (!check.ok) throw new Error(`the checkpoints disagree with the postings: ${JSON.stringify(check.first_mismatch)}`);
    console.log(`checked ${check.checkpoints_checked} checkpoints against the postings in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    await db.raw('VACUUM ANALYZE');

    const app = benchApp({ db, chain, network, jwt: JWT });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    stack.onStop(() => closeServer(server, 2000));
    const port = (server.address() as { port: number }).port;
    const token = signHs256Token({ ...JWT, role: 'auditor', sub: 'bench-auditor', ttlSeconds: 3600 });
    const url = (clinic: Clinic) =>
      `http://127.0.0.1:${port}/v1/statements?clinic_id=${clinic.id}&from=${month.from.toISOString()}&to=${month.to.toISOString()}&format=json`;

    // Each statement's balances must be the sums of its clinic's postings.
    for (const clinic of clinics) {
      const read = await readStatement(url(clinic), token);
      for (const [side, at] of [
        ['opening', month.from],
        ['closing', month.to],
      ] as const) {
        const expected = (await summedFromTheStart(db, clinic.id, asset, at)).balances;
        for (const [kind, total] of Object.entries(expected)) {
          if (read[side][kind] !== total)
            throw new Error(`clinic with ${clinic.years} year(s): ${side} ${kind} is ${read[side][kind]}, the postings say ${total}`);
        }
      }
    }

    const figures = new Map<number, { firstByte: number[]; total: number[]; summed: number[] }>(
      clinics.map((clinic) => [clinic.years, { firstByte: [], total: [], summed: [] }]),
    );
    for (let round = 0; round < ROUNDS; round++) {
      for (const clinic of round % 2 === 0 ? clinics : [...clinics].reverse()) {
        const read = await readStatement(url(clinic), token);
        const figure = figures.get(clinic.years)!;
        figure.firstByte.push(read.firstByteMs);
        figure.total.push(read.ms);
        figure.summed.push((await summedFromTheStart(db, clinic.id, asset, month.from)).ms);
      }
    }
    if (process.env.BENCH_GROWTH_PROFILE === '1') {
      // Each query of one statement per clinic, with its time: where the first byte goes.
      const startedAt = new Map<string, { sql: string; at: number }>();
      const log: string[] = [];
      db.on('query', (query: { __knexQueryUid: string; sql: string }) => startedAt.set(query.__knexQueryUid, { sql: query.sql, at: performance.now() }));
      db.on('query-response', (_response: unknown, query: { __knexQueryUid: string }) => {
        const begun = startedAt.get(query.__knexQueryUid);
        if (begun) log.push(`${(performance.now() - begun.at).toFixed(1).padStart(8)} ms  ${begun.sql.replace(/\s+/g, ' ').slice(0, 150)}`);
      });
      for (const clinic of clinics) {
        log.length = 0;
        await readStatement(url(clinic), token);
        console.log(`queries of one statement, ${clinic.years} year(s):\n${log.join('\n')}`);
        const plan = (await db.raw(
          `EXPLAIN (ANALYZE, BUFFERS) SELECT p.kind, sum(p.amount)::text AS total
             FROM journal_entries e
             JOIN LATERAL (SELECT a.kind, ps.amount FROM postings ps JOIN ledger_accounts a ON a.id = ps.account_id WHERE ps.entry_id = e.id AND ps.asset = ? OFFSET 0) p ON true
            WHERE e.clinic_id = ? AND e.created_at >= ? AND e.created_at < ?
            GROUP BY p.kind`,
          [asset, clinic.id, month.from, month.to],
        )) as { rows: { 'QUERY PLAN': string }[] };
        console.log(plan.rows.map((row) => row['QUERY PLAN']).join('\n'));
      }
    }
    const one = figures.get(1)!;
    const five = figures.get(5)!;
    const monthEntries = MONTH_DAYS * PER_DAY;
    console.log('');
    console.log(`A ${MONTH_DAYS}-day statement (${monthEntries} entries) of two clinics with the same month, medians of ${ROUNDS} rounds:`);
    console.log('history   first byte ms   total ms   opening balance summed from the first posting, ms (the old way, reference)');
    for (const [years, figure] of [
      [1, one],
      [5, five],
    ] as const) {
      console.log(
        `${`${years} year${years > 1 ? 's' : ''}`.padEnd(9)} ${median(figure.firstByte).toFixed(1).padStart(13)}   ${median(figure.total).toFixed(1).padStart(8)}   ${median(figure.summed).toFixed(1).padStart(8)}`,
      );
    }
    const firstByteRatio = median(five.firstByte) / median(one.firstByte);
    const totalRatio = median(five.total) / median(one.total);
    console.log('');
    console.log(
      `5 years / 1 year: first byte ${firstByteRatio.toFixed(2)}x, total ${totalRatio.toFixed(2)}x (summed from the start: ${(median(five.summed) / median(one.summed)).toFixed(2)}x)`,
    );
    console.log(
      `Goal (first byte with 5 years <= ${GOAL_RATIO} x with 1 year): ${firstByteRatio <= GOAL_RATIO ? 'met' : 'NOT met'} (${firstByteRatio.toFixed(2)}x).`,
    );
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runGrowthBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
