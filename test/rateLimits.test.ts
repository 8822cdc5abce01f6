/**
 * Rate limits, counted in the run's Postgres: two app instances over one database share each
 * allowance, as gateway instances behind a load balancer do. Over a limit the answer is 429
 * problem+json with Retry-After, and nothing is done. `/ready` asks its dependencies at most
 * once per second however often it is called.
 */
import type { Express } from 'express';
import knex from 'knex';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createClinic } from '../src/billing/clinics.js';
import { createChainClient } from '../src/chain/client.js';
import { READY_CACHE_MS } from '../src/http/health.js';
import { DEFAULT_RATE_LIMITS, purgeExpiredRateLimits, type RateLimitSettings } from '../src/http/rateLimits.js';
import { withTransaction } from '../src/platform/transaction.js';
import { waitFor } from '../src/platform/waitFor.js';
import { bearer, buildTestApp, TEST_ACTOR, TEST_SECRETS, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let clinicId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const clinic = await withTransaction(database.db, (trx) =>
    createClinic(trx, TEST_ACTOR, { name: 'Limited Clinic', settlementAddress: `0x${'1c'.repeat(20)}`, webhookUrl: undefined, secrets: TEST_SECRETS }),
  );
  clinicId = clinic.id;
});

afterAll(async () => {
  await database.close();
});

beforeEach(async () => {
  // Each test starts with every allowance whole.
  await database.db('rate_limits').del();
});

const OFF: RateLimitSettings = { publicPerMinute: 0, expensivePerMinute: 0, anchorsPerHour: 0, failedAuthPerMinute: 0, signInPerMinute: 0 };

async function twoInstances(limits: Partial<RateLimitSettings>, trustProxy?: number): Promise<[Express, Express]> {
  const overrides = { rateLimits: { ...OFF, ...limits }, trustProxy };
  const [a, b] = await Promise.all([buildTestApp({ db: database.db, overrides }), buildTestApp({ db: database.db, overrides })]);
  return [a.app, b.app];
}

function expectRateLimited(response: request.Response, maxRetryAfter: number): void {
  expect(response.status).toBe(429);
  expect(response.type).toBe('application/problem+json');
  expect(response.body.code).toBe('rate_limited');
  const retryAfter = Number(response.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxRetryAfter);
  expect(response.body.retry_after).toBe(retryAfter);
}

describe('the public limit, per client address', () => {
  it('is shared by every instance: five checkout requests across two, then 429 on either', async () => {
    const [a, b] = await twoInstances({ publicPerMinute: 5 });
    const path = `/checkout/${'x'.repeat(43)}/status`;
    for (let i = 0; i < 5; i++) expect((await request(i % 2 === 0 ? a : b).get(path)).status, `request ${i + 1}`).toBe(404);
    expectRateLimited(await request(a).get(path), 60);
    expectRateLimited(await request(b).get(path), 60);
    // The limit is the address's, whatever it asks for: /ready and /problems are refused too.
    expectRateLimited(await request(b).get('/ready'), 60);
    expectRateLimited(await request(a).get('/problems/not_found'), 60);
    // Authenticated API calls are not counted against it.
    expect(
      (
        await request(a)
          .get(`/v1/clinics/${clinicId}`)
          .set(bearer(tokenFor('platform_admin')))
      ).status,
    ).toBe(200);
  });

  it('counts paths that match nothing, once each', async () => {
    const [a] = await twoInstances({ publicPerMinute: 3 });
    expect((await request(a).get('/nothing-here')).status).toBe(404);
    // Under /checkout but matching no route: counted once, not by both mounts.
    expect((await request(a).get('/checkout/a/b/c')).status).toBe(404);
    expect((await request(a).get('/wp-login.php')).status).toBe(404);
    expectRateLimited(await request(a).get('/nothing-here'), 60);
  });

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    const [direct] = await twoInstances({ publicPerMinute: 2 });
    for (let i = 0; i < 2; i++) expect((await request(direct).get('/problems').set('X-Forwarded-For', `198.51.100.${i}`)).status).toBe(200);
    // A client cannot buy a fresh allowance by naming another address.
    expectRateLimited(await request(direct).get('/problems').set('X-Forwarded-For', '198.51.100.99'), 60);

    await database.db('rate_limits').del();
    const [behindProxy] = await twoInstances({ publicPerMinute: 2 }, 1);
    for (let i = 0; i < 2; i++) expect((await request(behindProxy).get('/problems').set('X-Forwarded-For', '203.0.113.7')).status).toBe(200);
    expectRateLimited(await request(behindProxy).get('/problems').set('X-Forwarded-For', '203.0.113.7'), 60);
    // Another patient behind the same load balancer has an allowance of its own.
    expect((await request(behindProxy).get('/problems').set('X-Forwarded-For', '203.0.113.8')).status).toBe(200);
    // No address is stored as such.
    expect(JSON.stringify(await database.db('rate_limits').select())).not.toMatch(/203\.0\.113|127\.0\.0\.1/);
  });

  it('keeps limiting, per instance, when the database cannot count', async () => {
    const unreachable = knex({ client: 'pg', connection: { host: '127.0.0.1', port: 1, user: 'nobody', database: 'none' }, pool: { min: 0, max: 1 } });
    try {
      const { app } = await buildTestApp({ db: unreachable, overrides: { rateLimits: { ...OFF, publicPerMinute: 2 } } });
      for (let i = 0; i < 2; i++) expect((await request(app).get('/problems/rate_limited')).status).toBe(200);
      expectRateLimited(await request(app).get('/problems/rate_limited'), 60);
    } finally {
      await unreachable.destroy();
    }
  });
});

describe('the expensive limit, per caller', () => {
  it('refuses a statement over the limit without recording it, while another caller still gets one', async () => {
    const [a, b] = await twoInstances({ expensivePerMinute: 2 });
    const statement = (app: Express, sub: string) =>
      request(app)
        .get(`/v1/statements?clinic_id=${clinicId}&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z`)
        .set(bearer(tokenFor('finance', undefined, sub)));
    expect((await statement(a, 'user-1')).status).toBe(200);
    // Verifying the audit log draws on the same allowance of the same person.
    expect(
      (
        await request(b)
          .get('/v1/audit-log/verify')
          .set(bearer(tokenFor('auditor', undefined, 'user-1')))
      ).status,
    ).toBe(200);
    const statements = await database.db('statements').count<{ count: string }[]>('* as count');
    const audit = await (await audited(database.db))('audit_log').count<{ count: string }[]>('* as count');

    expectRateLimited(await statement(b, 'user-1'), 60);
    expect(await database.db('statements').count<{ count: string }[]>('* as count')).toEqual(statements);
    expect(await (await audited(database.db))('audit_log').count<{ count: string }[]>('* as count')).toEqual(audit);

    expect((await statement(a, 'user-2')).status).toBe(200);
    // Cheap reads are not counted: the limited caller still lists invoices.
    expect(
      (
        await request(a)
          .get('/v1/invoices')
          .set(bearer(tokenFor('finance', undefined, 'user-1')))
      ).status,
    ).toBe(200);
  });

  it('limits statement anchors per hour', async () => {
    const [a] = await twoInstances({ anchorsPerHour: 1 });
    const anchor = (key: string) =>
      request(a)
        .post('/v1/statements/stmt_000000000000000000000000/anchor')
        .set(bearer(tokenFor('auditor')))
        .set('Idempotency-Key', key);
    expect((await anchor('first')).status).toBe(404);
    expectRateLimited(await anchor('second'), 3600);
    expect(Number((await anchor('third')).headers['retry-after'])).toBeGreaterThan(3000);
  });
});

describe('refused credentials, per client address', () => {
  it('after the limit, refuse the address before its token is looked at, on every instance; others and good tokens elsewhere go on', async () => {
    const [a, b] = await twoInstances({ failedAuthPerMinute: 3 }, 1);
    const guess = (app: Express, from: string, token: string) => request(app).get('/v1/invoices').set('X-Forwarded-For', from).set(bearer(token));
    const forged = `cpk_test_${'A'.repeat(43)}`;
    expect((await guess(a, '203.0.113.7', forged)).status).toBe(401);
    expect((await guess(b, '203.0.113.7', 'not.a.jwt')).status).toBe(401);
    expect((await guess(a, '203.0.113.7', forged)).status).toBe(401);
    // Used up: even a valid token from that address waits out the minute.
    expectRateLimited(await guess(b, '203.0.113.7', tokenFor('platform_admin')), 60);
    expectRateLimited(await guess(a, '203.0.113.7', forged), 60);
    // Another address, with a valid token or a bad one, is not held back.
    expect((await guess(a, '198.51.100.4', tokenFor('platform_admin'))).status).toBe(200);
    expect((await guess(b, '198.51.100.4', forged)).status).toBe(401);
    // Good tokens do not count.
    for (let i = 0; i < 5; i++) expect((await guess(a, '192.0.2.9', tokenFor('platform_admin'))).status).toBe(200);
  });
});

describe('the counts', () => {
  it('are removed an hour after their window ends', async () => {
    const [a] = await twoInstances({ publicPerMinute: 5 });
    await request(a).get('/problems');
    expect(await database.db('rate_limits').count<{ count: string }[]>('* as count')).toEqual([{ count: '1' }]);
    expect(await purgeExpiredRateLimits(database.db)).toBe(0);
    expect(await purgeExpiredRateLimits(database.db, Date.now() + 2 * 3_600_000)).toBe(1);
  });

  it('have defaults a clinic day fits in: a patient polling every 3 s, a finance user exporting', () => {
    expect(DEFAULT_RATE_LIMITS.publicPerMinute).toBeGreaterThanOrEqual(60 / 3 + 20);
    expect(DEFAULT_RATE_LIMITS.expensivePerMinute).toBeGreaterThanOrEqual(10);
  });
});

describe('/ready', () => {
  it('asks the database and the node once for many probes at once, and again after READY_CACHE_MS', async () => {
    const chain = createChainClient({ rpcUrl: inject('rpcUrl'), timeoutMs: 2000 });
    let asked = 0;
    const counting = {
      ...chain,
      getChainId: () => {
        asked += 1;
        return chain.getChainId();
      },
    } as typeof chain;
    const { app } = await buildTestApp({ db: database.db, overrides: { chain: counting } });
    const first = Date.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => request(app).get('/ready')));
    for (const answer of answers) expect(answer.status).toBe(200);
    expect(asked).toBe(1);
    await waitFor(async () => (await request(app).get('/ready')).status === 200 && asked === 2, { what: 'a fresh readiness check', timeoutMs: 5000 });
    expect(Date.now() - first).toBeGreaterThanOrEqual(READY_CACHE_MS);
  });
});
