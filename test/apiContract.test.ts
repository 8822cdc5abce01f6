/**
 * The API and its contract cannot drift: every route the app serves is in openapi.yaml, and
 * every operation in openapi.yaml is served.
 */
import type { Express } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiContract } from '../src/http/openapi.js';
import { buildTestApp } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Express;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
});

afterAll(async () => {
  await database.close();
});

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every (method, path) the Express app routes, in OpenAPI form (`:id` → `{id}`). */
function servedRoutes(stack: Layer[]): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const path = layer.route.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      return Object.keys(layer.route.methods)
        .filter((method) => method !== '_all')
        .map((method) => `${method} ${path}`);
    }
    return layer.handle?.stack ? servedRoutes(layer.handle.stack) : [];
  });
}

describe('openapi.yaml and the app', () => {
  it('declare exactly the same operations', () => {
    const contract = app.locals.contract as ApiContract;
    const declared = contract
      .operations()
      .map((operation) => `${operation.method} ${operation.path}`)
      .sort();
    // Express 5 keeps its router at `app.router` but does not type it.
    const served = [...new Set(servedRoutes((app as unknown as { router: { stack: Layer[] } }).router.stack))].sort();
    expect(served.length).toBeGreaterThan(10);
    expect(served).toEqual(declared);
    // Operations routes are served directly; every /v1 route must have been registered through the contract.
    expect(contract.undeclaredRoutes().filter((operation) => operation.path.startsWith('/v1/'))).toEqual([]);
  });

  it('refuses to register a route the contract lacks', () => {
    const contract = app.locals.contract as ApiContract;
    expect(() => contract.validator('get', '/v1/secret-admin')).toThrow(/openapi.yaml has no operation GET \/v1\/secret-admin/);
  });

  it('every /v1 operation requires a bearer token or a session, the rest none, and every /v1 POST an Idempotency-Key', async () => {
    const { default: YAML } = await import('yaml');
    const fs = await import('node:fs');
    const { OPENAPI_PATH } = await import('../src/platform/paths.js');
    const document = YAML.parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as {
      security: unknown[];
      paths: Record<string, Record<string, { security?: unknown[]; parameters?: { $ref?: string }[] }>>;
    };
    expect(document.security).toEqual([{ bearerAuth: [] }, { sessionCookie: [] }]);
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        if (method === 'parameters') continue;
        if (path.startsWith('/v1/')) expect(operation.security, `${method} ${path}`).toBeUndefined();
        else expect(operation.security, `${method} ${path}`).toEqual([]);
        // Sign-in's own POSTs (sign-out, passkey ceremonies) act on the session, the console's draws a QR, and
        // the payment page's travel-rule form is taken once per invoice (a retry gets 409): none makes a
        // resource a retry could double.
        if (method === 'post' && !path.startsWith('/auth/') && !path.startsWith('/console/') && !path.startsWith('/checkout/'))
          expect(
            operation.parameters?.map((p) => p.$ref),
            `${method} ${path}`,
          ).toContain('#/components/parameters/IdempotencyKey');
      }
    }
  });
});
