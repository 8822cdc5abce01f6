/**
 * What the typed client costs over hand-written HTTP, on the real app and Postgres:
 *
 * - `invoices.create`, one at a time, against a plain `fetch` of the same POST with the same
 *   headers (a fresh `Idempotency-Key` each): mean milliseconds per invoice;
 * - reading every invoice of a clinic (`for await` over `invoices.list({ limit: 100 })`) against
 *   a `fetch` loop over the same pages with `starting_after`;
 * - checking a webhook's signature (`constructEvent`, Web Crypto, async) against the gateway's
 *   own check (`verifyWebhookSignature`, node:crypto, synchronous), over the body of a real
 *   `invoice.paid` event.
 *
 *   npx tsx bench/client.ts            (BENCH_CLIENT_INVOICES=300 per run by default)
 *   npm run bench -- client
 *
 * Client and baseline alternate, two rounds each (who goes first alternates too), after a warm-up of each; a run that did not
 * create exactly the invoices it asked for, or read another number of invoices than exist, is an
 * error, not a figure.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ClinicPay } from '../client/src/index.js';
import { createChainClient } from '../src/chain/client.js';
import { signHs256Token } from '../src/identity/jwt.js';
import { closeServer } from '../src/main.js';
import { withTransaction } from '../src/platform/transaction.js';
import { signWebhookPayload, verifyWebhookSignature } from '../src/webhooks/signature.js';
import { BenchStack, benchApp, createBenchClinic } from './benchStack.js';

const INVOICES = Number(process.env.BENCH_CLIENT_INVOICES ?? 300);
const ROUNDS = 4;
const SIGNATURE_CHECKS = 20_000;
const JWT = { secret: randomBytes(32).toString('hex'), issuer: 'clinicpay', audience: 'clinicpay-api' } as const;
const INVOICE = {
  patient_ref: 'PT-2024-004517',
  currency: 'HKD',
  line_items: [
    { description: 'General consultation', quantity: 1, unit_amount: '450.00' },
    { description: 'Amoxicillin 500 mg capsules', quantity: 21, unit_amount: '2.80' },
  ],
};

interface Row {
  what: string;
  client: number;
  baseline: number;
  unit: string;
}

export async function runClientBench(): Promise<void> {
  const stack = BenchStack.create('client');
  try {
    const { postgres, anvil } = await stack.startPostgresAndAnvil();
    const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 });
    const network = await stack.deployNetwork(chain, anvil);
    const db = await stack.migratedDatabase(postgres, 'clinicpay_bench');
    const clinic = await withTransaction(db, (trx) => createBenchClinic(trx));
    const server = http.createServer(benchApp({ db, chain, network, jwt: JWT }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    stack.onStop(() => closeServer(server, 2000));
    const baseUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const token = signHs256Token({ ...JWT, role: 'clinic_admin', sub: 'bench-admin', clinicId: clinic.id, ttlSeconds: 3600 });
    const clinicpay = new ClinicPay({ apiKey: token, baseUrl });
    const countInvoices = async () => Number(((await db('invoices').where({ clinic_id: clinic.id }).count({ n: '*' })) as { n: string }[])[0]!.n);

    const create: Record<'client' | 'baseline', () => Promise<string>> = {
      client: async () => (await clinicpay.invoices.create(INVOICE)).id,
      baseline: async () => {
        const response = await fetch(`${baseUrl}/v1/invoices`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, Accept: 'application/json', 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() },
          body: JSON.stringify(INVOICE),
        });
        if (response.status !== 201) throw new Error(`baseline create answered ${response.status}`);
        return ((await response.json()) as { id: string }).id;
      },
    };
    const creating = async (side: 'client' | 'baseline', count: number): Promise<number> => {
      const before = await countInvoices();
      const started = performance.now();
      for (let i = 0; i < count; i++) await create[side]();
      const elapsed = performance.now() - started;
      const made = (await countInvoices()) - before;
      if (made !== count) throw new Error(`${side}: ${made} invoices created for ${count} calls`);
      return elapsed / count;
    };

    const reading = {
      client: async () => {
        let read = 0;
        for await (const _invoice of clinicpay.invoices.list({ limit: 100 })) read++;
        return read;
      },
      baseline: async () => {
        let read = 0;
        let after: string | undefined;
        for (;;) {
          const response = await fetch(`${baseUrl}/v1/invoices?limit=100${after ? `&starting_after=${after}` : ''}`, {
            headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
          });
          const page = (await response.json()) as { data: { id: string }[]; has_more: boolean };
          read += page.data.length;
          if (!page.has_more) return read;
          after = page.data[page.data.length - 1]!.id;
        }
      },
    };
    const readAll = async (side: 'client' | 'baseline'): Promise<number> => {
      const expected = await countInvoices();
      const started = performance.now();
      const read = await reading[side]();
      const elapsed = performance.now() - started;
      if (read !== expected) throw new Error(`${side}: read ${read} invoices of ${expected}`);
      return elapsed;
    };

    await creating('client', 20);
    await creating('baseline', 20);
    const rows: Row[] = [];
    const creates = { client: [] as number[], baseline: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of sidesOf(round)) creates[side].push(await creating(side, INVOICES));
    }
    rows.push({
      what: `invoices.create, one at a time (${ROUNDS} × ${INVOICES})`,
      client: mean(creates.client),
      baseline: mean(creates.baseline),
      unit: 'ms per invoice',
    });

    const total = await countInvoices();
    const reads = { client: [] as number[], baseline: [] as number[] };
    await readAll('client');
    await readAll('baseline');
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of sidesOf(round)) reads[side].push(await readAll(side));
    }
    rows.push({ what: `every invoice, pages of 100 (${total})`, client: mean(reads.client), baseline: mean(reads.baseline), unit: 'ms' });

    // A real event body: the invoice as the gateway would send it, signed as the dispatcher signs it.
    const invoice = await clinicpay.invoices.retrieve((await clinicpay.invoices.list({ limit: 1 })).data[0]!.id);
    const body = JSON.stringify({ id: 'evt_0123456789abcdef01234567', type: 'invoice.paid', created: Math.floor(Date.now() / 1000), data: invoice });
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    const timestamp = Math.floor(Date.now() / 1000);
    const header = signWebhookPayload({ secret, timestamp, rawBody: body });
    const checks = {
      client: async () => {
        const started = performance.now();
        for (let i = 0; i < SIGNATURE_CHECKS; i++) await ClinicPay.webhooks.constructEvent(body, header, secret);
        return ((performance.now() - started) * 1000) / SIGNATURE_CHECKS;
      },
      baseline: async () => {
        const started = performance.now();
        for (let i = 0; i < SIGNATURE_CHECKS; i++) {
          if (!verifyWebhookSignature({ header, rawBody: body, secret }).valid) throw new Error('the gateway refused its own signature');
          JSON.parse(body);
        }
        return ((performance.now() - started) * 1000) / SIGNATURE_CHECKS;
      },
    };
    await checks.client();
    await checks.baseline();
    const verifies = { client: [] as number[], baseline: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of sidesOf(round)) verifies[side].push(await checks[side]());
    }
    rows.push({
      what: `webhook check + parse, ${body.length} B body (${ROUNDS} × ${SIGNATURE_CHECKS})`,
      client: mean(verifies.client),
      baseline: mean(verifies.baseline),
      unit: 'µs per check',
    });

    console.log('The typed client against hand-written fetch (and, for webhooks, the gateway’s node:crypto check), same app, same run.');
    console.log('');
    console.log('| what | client | baseline | unit | client / baseline |');
    console.log('| --- | ---: | ---: | --- | ---: |');
    for (const row of rows)
      console.log(`| ${row.what} | ${row.client.toFixed(2)} | ${row.baseline.toFixed(2)} | ${row.unit} | ${(row.client / row.baseline).toFixed(2)}× |`);
  } finally {
    await stack.close();
  }
}

/** Who goes first alternates from round to round, so that drift (a growing table, a warming cache) hits both. */
function sidesOf(round: number): readonly ('client' | 'baseline')[] {
  return round % 2 === 0 ? ['client', 'baseline'] : ['baseline', 'client'];
}

function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runClientBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
