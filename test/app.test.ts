import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../src/platform/waitFor.js';
import { bearer, buildTestApp, type CapturedLog, testNetwork, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Awaited<ReturnType<typeof buildTestApp>>['app'];
let log: CapturedLog;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app, log } = await buildTestApp({ db: database.db }));
});

afterAll(async () => {
  await database.close();
});

function expectProblem(response: request.Response, status: number, code: string): void {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(response.body).toMatchObject({ type: `/problems/${code}`, status, code });
  expect(typeof response.body.title).toBe('string');
}

describe('operations endpoints', () => {
  it('GET /health says the process is up', async () => {
    const response = await request(app).get('/health');
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ status: 'ok' });
  });

  it('GET /ready checks Postgres and the RPC node for real', async () => {
    const response = await request(app).get('/ready');
    expect(response.status).toBe(200);
    expect(response.body.status).toBe('ready');
    expect(response.body.checks.database).toEqual({ ok: true });
    expect(response.body.checks.rpc.ok).toBe(true);
    expect(BigInt(response.body.checks.rpc.block_number)).toBeGreaterThanOrEqual(0n);
  });

  it('GET /ready reports how far the chain watcher is behind the head', async () => {
    const { chainId } = await testNetwork();
    const before = await request(app).get('/ready');
    expect(before.body.watcher).toEqual({ cursor: null, lag_blocks: null });
    await database.db('chain_cursors').insert({ chain_id: chainId, last_block: '1' });
    // /ready reuses its answer for READY_CACHE_MS: the new cursor shows within a moment.
    const after = await waitFor(
      async () => {
        const answer = await request(app).get('/ready');
        return answer.body.watcher.cursor === '1' && answer;
      },
      { what: '/ready to report the new cursor', timeoutMs: 5000 },
    );
    expect(after.body.watcher.cursor).toBe('1');
    expect(after.body.watcher.lag_blocks).toBe(Number(BigInt(after.body.checks.rpc.block_number) - 1n));
  });

  it('GET /metrics serves Prometheus text that counts the requests it saw', async () => {
    await request(app).get('/health');
    const response = await request(app).get('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/plain/);
    expect(response.text).toMatch(/clinicpay_http_requests_total\{method="GET",route="\/health",status="200"\} [1-9]/);
    expect(response.text).toContain('clinicpay_process_cpu_user_seconds_total');
    for (const name of [
      'clinicpay_watcher_lag_blocks',
      'clinicpay_watcher_logs_processed_total',
      'clinicpay_watcher_reorgs_total',
      'clinicpay_flush_deposits_total',
      'clinicpay_webhook_deliveries_total',
    ]) {
      expect(response.text).toContain(`# TYPE ${name}`);
    }
  });

  it('GET /openapi.yaml serves the contract', async () => {
    const response = await request(app).get('/openapi.yaml');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^application\/yaml/);
    expect(response.text).toMatch(/^openapi: 3\.1\.0/);
  });

  it('GET /docs serves a reference page whose scripts and styles come from this server', async () => {
    const page = await request(app).get('/docs');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div id="swagger-ui">');
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      expect(asset.startsWith('/')).toBe(true);
      const response = await request(app).get(asset);
      expect(response.status, asset).toBe(200);
    }
    // No inline script: the page must work under the default Content-Security-Policy.
    expect(page.text).not.toMatch(/<script>(?!<\/script>)/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
  });
});

describe('errors are problem+json', () => {
  it('an unknown route is a 404 problem', async () => {
    expectProblem(await request(app).get('/nothing-here'), 404, 'not_found');
    expectProblem(
      await request(app)
        .get('/v1/nothing-here')
        .set(bearer(tokenFor('platform_admin'))),
      404,
      'not_found',
    );
  });

  it('an unknown /v1 route without a token is a 401, not a map of what exists', async () => {
    expectProblem(await request(app).get('/v1/nothing-here'), 401, 'missing_token');
  });

  it('malformed JSON is a 400 problem', async () => {
    const response = await request(app).post('/v1/invoices').set('content-type', 'application/json').send('{"amount": 1,');
    expectProblem(response, 400, 'malformed_json');
  });

  it('a body over the limit is a 413 problem', async () => {
    const response = await request(app)
      .post('/v1/invoices')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ padding: 'x'.repeat(200 * 1024) }));
    expectProblem(response, 413, 'body_too_large');
  });

  it('an unexpected failure is a 500 that reveals nothing inside', async () => {
    const { app: failing, log: failingLog } = await buildTestApp({
      db: database.db,
      overrides: {
        metrics: {
          registry: { contentType: 'text/plain', metrics: () => Promise.reject(new Error('secret internals at /srv/db')) },
          observe: () => undefined,
          scrapedGauge: () => undefined,
        } as never,
      },
    });
    const response = await request(failing).get('/metrics');
    expectProblem(response, 500, 'internal_error');
    expect(JSON.stringify(response.body)).not.toContain('secret internals');
    expect(failingLog.text).toContain('secret internals');
  });
});

describe('request context and security headers', () => {
  it('gives every response a request id, adopting a well-formed one from the caller', async () => {
    const own = await request(app).get('/health');
    expect(own.headers['x-request-id']).toMatch(/^req_[0-9a-f]{32}$/);
    const adopted = await request(app).get('/health').set('X-Request-Id', 'clinic-trace-0001');
    expect(adopted.headers['x-request-id']).toBe('clinic-trace-0001');
    const refused = await request(app).get('/health').set('X-Request-Id', 'bad id with spaces');
    expect(refused.headers['x-request-id']).toMatch(/^req_/);
  });

  it('sets helmet headers and does not advertise Express', async () => {
    const response = await request(app).get('/health');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['strict-transport-security']).toBeDefined();
    expect(response.headers['x-powered-by']).toBeUndefined();
  });

  it('logs one structured line per request without headers, query strings or bodies', async () => {
    const secret = 'Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig';
    await request(app)
      .post('/v1/anything?token=abc123')
      .set('Authorization', secret)
      .set('X-Request-Id', 'log-check-000001')
      .send({ description: 'patient has a fever' });
    const lines = log.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const entries = lines.filter((line) => line.req_id === 'log-check-000001');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ level: 'info', msg: 'request', method: 'POST', status: 401 });
    expect(log.text).not.toContain('eyJhbGciOiJIUzI1NiJ9');
    expect(log.text).not.toContain('abc123');
    expect(log.text).not.toContain('fever');
  });
});
