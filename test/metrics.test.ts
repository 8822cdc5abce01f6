/**
 * `/metrics` cannot be grown from outside: a request that matches no route is counted as
 * `unmatched`, never under its own path. With METRICS_TOKEN set, it answers only that token.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => database?.close());

/** The `route` labels of clinicpay_http_requests_total in a scrape. */
function routeLabels(scrape: string): string[] {
  return [...new Set([...scrape.matchAll(/^clinicpay_http_requests_total\{[^}]*route="([^"]*)"/gm)].map((match) => match[1]!))].sort();
}

describe('metrics labels', () => {
  it('count made-up paths as unmatched, whatever their status, and static files by their folder', async () => {
    const { app } = await buildTestApp({ db: database.db });
    const made = Array.from({ length: 25 }, () => `/v1/${randomUUID()}`);
    for (const path of made) {
      expect((await request(app).get(path)).status).toBe(401);
      expect(
        (
          await request(app)
            .get(path)
            .set(bearer(tokenFor('auditor')))
        ).status,
      ).toBe(404);
    }
    for (const path of ['/nothing-here', `/checkout/assets/${randomUUID()}.js`, `/docs/assets/${randomUUID()}`])
      expect((await request(app).get(path)).status).toBe(404);
    expect((await request(app).get('/checkout/assets/checkout.css')).status).toBe(200);
    const scrape = (await request(app).get('/metrics')).text;
    const labels = routeLabels(scrape);
    for (const path of made) expect(scrape).not.toContain(path);
    expect(labels).toContain('unmatched');
    expect(labels).toContain('/checkout/assets');
    expect(labels.every((label) => !/[0-9a-f]{8}-/.test(label))).toBe(true);
    expect(scrape).toMatch(/clinicpay_http_requests_total\{method="GET",route="unmatched",status="401"\} 25/);
  });
});

describe('METRICS_TOKEN', () => {
  it('when set, /metrics answers only that bearer token', async () => {
    const metricsToken = 'scrape-secret-0123456789';
    const { app } = await buildTestApp({ db: database.db, overrides: { metricsToken } });
    const missing = await request(app).get('/metrics');
    expect(missing.status).toBe(401);
    expect(missing.body.code).toBe('missing_token');
    expect((await request(app).get('/metrics').set(bearer('scrape-secret-0123456780'))).status).toBe(401);
    expect(
      (
        await request(app)
          .get('/metrics')
          .set(bearer(tokenFor('platform_admin')))
      ).status,
    ).toBe(401);
    const allowed = await request(app).get('/metrics').set(bearer(metricsToken));
    expect(allowed.status).toBe(200);
    expect(allowed.text).toContain('clinicpay_http_requests_total');
  });

  it('unset, /metrics is open (the development default)', async () => {
    const { app } = await buildTestApp({ db: database.db });
    expect((await request(app).get('/metrics')).status).toBe(200);
  });
});
