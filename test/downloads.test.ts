/**
 * Long downloads cannot take the gateway down: a client that drops an export gives its
 * database connection back at once; clients that stall are cut after the stall timeout; long
 * reads have a pool of their own and a cap, so the API and the patients' checkout keep
 * answering while they run; API queries are bounded by a statement timeout.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../src/platform/db.js';
import { waitFor } from '../src/platform/waitFor.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let clinicId: string;
let checkoutPath: string;
const servers: http.Server[] = [];
const pools: Db[] = [];

/** How long a download may go unread here before the gateway cuts it. */
const STALL_MS = 1500;
/** Exceptions enough for an export of several megabytes: more than any socket buffers. */
const EXCEPTIONS = 40_000;

beforeAll(async () => {
  database = await createTestDatabase();
  const { app } = await buildTestApp({ db: database.db });
  clinicId = (
    await request(app)
      .post('/v1/clinics')
      .set(bearer(tokenFor('platform_admin')))
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'Tsuen Wan Clinic', settlement_address: `0x${'ef'.repeat(20)}` })
  ).body.id as string;
  const invoice = await request(app)
    .post('/v1/invoices')
    .set(bearer(tokenFor('clinic_admin', clinicId)))
    .set('Idempotency-Key', randomUUID())
    .send({ patient_ref: 'P-1', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '100.00' }] });
  checkoutPath = new URL(invoice.body.checkout_url as string, 'http://gateway').pathname;
  await database.db.raw(
    `INSERT INTO exceptions (id, dedupe_key, type, clinic_id, amount, details)
     SELECT 'exc_' || lpad(to_hex(n), 24, '0'), 'test:' || n, 'unknown_transfer', ?, n, '{"reason":"not_in_ledger"}'::jsonb
       FROM generate_series(1, ?) AS n`,
    [clinicId, EXCEPTIONS],
  );
});

afterAll(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  await Promise.all(pools.map((pool) => pool.destroy()));
  await database?.close();
});

/** The app on a real port, with the given pools. */
async function serve(overrides: Parameters<typeof buildTestApp>[0]['overrides']): Promise<string> {
  const { app } = await buildTestApp({ db: overrides?.db ?? database.db, overrides });
  const server = http.createServer(app);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function pool(max: number, statementTimeoutMs?: number): Db {
  const db = createDb({ connectionString: database.url, poolMax: max, statementTimeoutMs, applicationName: `test-${randomUUID().slice(0, 8)}` });
  pools.push(db);
  return db;
}

/** Connections of `db` lent out right now. */
function inUse(db: Db): number {
  return (db.client as { pool: { numUsed(): number } }).pool.numUsed();
}

/**
 * Asks for `path` on a raw socket and waits for the first bytes of the answer; then the client
 * either goes away or reads nothing more (its socket paused, the kernel buffers fill).
 */
async function openDownload(base: string, path: string, token: string): Promise<{ socket: net.Socket; head: string }> {
  const { port } = new URL(base);
  const socket = net.connect(Number(port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  const head = await new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1'))));
  return { socket, head };
}

async function timed(call: () => Promise<request.Response>): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await call();
  return { status: response.status, ms: performance.now() - started };
}

describe('a dropped download', () => {
  it('gives its connection back at once: three aborted exports hold nothing a moment later', async () => {
    const api = pool(10);
    const base = await serve({ db: api });
    for (let i = 0; i < 3; i += 1) {
      const { socket, head } = await openDownload(base, '/v1/exceptions/export', tokenFor('finance', undefined, `finance-${i}`));
      expect(head).toMatch(/^HTTP\/1\.1 200/);
      socket.destroy();
    }
    await waitFor(() => inUse(api) === 0, { what: 'the aborted exports to give their connections back', timeoutMs: 5000 });
  });
});

describe('twelve clients that stall or disconnect in the middle of long downloads', () => {
  it('leave the API and the checkout answering within a second, and the pools free 5 s after they go', async () => {
    const api = pool(10, 15_000);
    const reports = pool(4, 120_000);
    const base = await serve({ db: api, reportsDb: reports, maxReportsAtOnce: 4, streamStallTimeoutMs: STALL_MS });
    const clients = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        openDownload(
          base,
          i % 2 === 0 ? '/v1/exceptions/export' : `/v1/statements?clinic_id=${clinicId}&from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z`,
          tokenFor(i % 2 === 0 ? 'finance' : 'auditor', undefined, `reader-${i}`),
        ),
      ),
    );
    const started = clients.filter((client) => /^HTTP\/1\.1 200/.test(client.head));
    const refused = clients.filter((client) => /^HTTP\/1\.1 429/.test(client.head));
    // At most as many stream at once as the reports pool has connections; the rest are told to come back.
    expect(started.length).toBeGreaterThan(0);
    expect(started.length).toBeLessThanOrEqual(4);
    expect(started.length + refused.length).toBe(12);
    for (const client of refused) expect(client.head).toMatch(/\r\nretry-after: \d+\r\n/i);
    // Half of those streaming go away; the others stop reading.
    for (const [index, client] of clients.entries()) {
      if (index % 2 === 1) client.socket.destroy();
      else client.socket.pause();
    }
    const invoices = await timed(() =>
      request(base)
        .get('/v1/invoices')
        .set(bearer(tokenFor('clinic_staff', clinicId))),
    );
    const checkout = await timed(() => request(base).get(`${checkoutPath}/status`));
    expect(invoices.status).toBe(200);
    expect(checkout.status).toBe(200);
    expect(invoices.ms).toBeLessThan(1000);
    expect(checkout.ms).toBeLessThan(1000);
    expect(inUse(api)).toBe(0);
    // Those that went away hold nothing at once; those that stalled, once the stall timeout cuts them.
    const leftAt = Date.now();
    await waitFor(() => inUse(reports) === 0 && inUse(api) === 0, { what: 'the pools to hold no connection for the clients', timeoutMs: STALL_MS + 5000 });
    const freeAfterMs = Date.now() - leftAt;
    // The figures the hardening issue asks for, printed for the record.
    console.log(
      `12 stalled or dropped report clients: ${started.length} streaming, ${refused.length} refused (429); GET /v1/invoices ${invoices.ms.toFixed(0)} ms, checkout status ${checkout.ms.toFixed(0)} ms; pools free ${freeAfterMs} ms after they went (stall timeout ${STALL_MS} ms)`,
    );
    for (const client of clients) client.socket.destroy();
    const again = await request(base)
      .get('/v1/exceptions/export')
      .set(bearer(tokenFor('finance')));
    expect(again.status).toBe(200);
    expect(again.text.split('\r\n').length).toBe(EXCEPTIONS + 2);
  });
});

describe('API queries', () => {
  it('are cut by the statement timeout instead of holding a connection', async () => {
    const api = pool(2, 200);
    await expect(api.raw('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    expect(inUse(api)).toBe(0);
    expect((await api.raw('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});
