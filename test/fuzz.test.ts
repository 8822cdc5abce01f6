/**
 * Property-based fuzzing of the whole HTTP API, seeded and bounded in time: requests are drawn
 * from openapi.yaml (every operation, its path, query and body schemas) and then mutated: wrong
 * types, sizes, unicode (NUL, lone surrogates, right-to-left, astral), extreme numbers, unknown
 * fields, other content types, malformed JSON, missing, expired, forged and foreign tokens,
 * odd idempotency keys, methods and paths that do not exist.
 *
 * Against the real app, real Postgres and the real chain, every answer must be:
 * - below 500;
 * - when an error, problem+json (a page for the patient's HTML routes) whose `status` is the
 *   response's, and a status the operation declares (the contract check after each file);
 * - when an error, without effect: no clinic, invoice, journal entry or audit row more or less.
 *
 * FUZZ_SEED reproduces a run; a failure prints its seed and the shrunk request.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import fc from 'fast-check';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createHttpServer } from '../src/http/server.js';
import { signHs256Token } from '../src/identity/jwt.js';
import { OPENAPI_PATH } from '../src/platform/paths.js';
import { waitFor } from '../src/platform/waitFor.js';
import { bearer, buildTestApp, TEST_JWT, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

type Schema = Record<string, unknown>;
interface Operation {
  method: string;
  path: string;
  /** Media types the contract declares for each status. */
  responses: Record<string, string[]>;
  parameters: { name: string; in: string; schema: Schema; required?: boolean }[];
  body: Schema | undefined;
}

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
/** The property's time budget; the run stops drawing after it (counted as a pass, not a failure). */
const TIME_LIMIT_MS = 50_000;

const document = YAML.parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as {
  paths: Record<
    string,
    Record<string, { parameters?: unknown[]; requestBody?: { content?: Record<string, { schema: Schema }> }; responses?: Record<string, Schema> }>
  >;
  components: Record<string, Record<string, Schema>>;
};

function resolve(schema: Schema | undefined): Schema {
  let current = schema ?? {};
  for (let i = 0; i < 10 && typeof current.$ref === 'string'; i++) {
    const [, , section, name] = (current.$ref as string).split('/');
    current = document.components[section!]![name!]!;
  }
  return current;
}

const OPERATIONS: Operation[] = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.entries(item)
    .filter(([method]) => ['get', 'post', 'patch', 'put', 'delete'].includes(method))
    .map(([method, operation]) => ({
      method,
      path,
      parameters: [...((item.parameters as unknown[]) ?? []), ...(operation.parameters ?? [])].map((p) => {
        const parameter = resolve(p as Schema) as { name: string; in: string; schema: Schema; required?: boolean };
        return { ...parameter, schema: resolve(parameter.schema) };
      }),
      body: operation.requestBody?.content?.['application/json']?.schema,
      responses: Object.fromEntries(
        Object.entries(operation.responses ?? {}).map(([status, response]) => [status, Object.keys((resolve(response).content as object | undefined) ?? {})]),
      ),
    })),
);

/** The operation a path and method reach, literal segments before parameters (as the app routes them). */
function operationOf(method: string, url: string): Operation | undefined {
  const pathname = url.split('?')[0]!;
  return OPERATIONS.filter((operation) => operation.method === method)
    .sort((a, b) => (a.path.match(/\{/g)?.length ?? 0) - (b.path.match(/\{/g)?.length ?? 0))
    .find((operation) => new RegExp(`^${operation.path.replace(/\{[^}]+\}/g, '[^/]+').replace(/\./g, '\\.')}$`).test(pathname));
}

let database: TestDatabase;
let server: http.Server;
let baseUrl: string;
/** Ids of rows that exist, of every kind, so that drawn paths also reach real objects. */
const knownIds: string[] = [];
const clinics: string[] = [];
const statuses = new Map<number, number>();

beforeAll(async () => {
  database = await createTestDatabase();
  const { app } = await buildTestApp({ db: database.db });
  server = createHttpServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const admin = bearer(tokenFor('platform_admin'));
  for (const name of ['Fuzz Clinic A', 'Fuzz Clinic B']) {
    const clinic = await request(server)
      .post('/v1/clinics')
      .set(admin)
      .set('Idempotency-Key', randomBytes(8).toString('hex'))
      .send({ name, settlement_address: `0x${randomBytes(20).toString('hex')}` });
    clinics.push(clinic.body.id as string);
    for (let i = 0; i < 2; i++) {
      const invoice = await request(server)
        .post('/v1/invoices')
        .set(bearer(tokenFor('clinic_admin', clinic.body.id as string)))
        .set('Idempotency-Key', randomBytes(8).toString('hex'))
        .send({ patient_ref: `MRN-${i}`, currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '300.00' }] });
      knownIds.push(invoice.body.id as string);
      if (i === 1) {
        await request(server)
          .post(`/v1/invoices/${invoice.body.id}/void`)
          .set(bearer(tokenFor('clinic_admin', clinic.body.id as string)))
          .set('Idempotency-Key', randomBytes(8).toString('hex'));
      }
    }
  }
  knownIds.push(...clinics, ...((await database.db('webhook_events').pluck('id')) as string[]));
});

function reconciliationsFinished(): Promise<boolean> {
  return waitFor(async () => (await database.db('reconciliation_runs').where({ status: 'running' }).first()) === undefined, {
    what: 'reconciliation runs to finish',
    timeoutMs: 30_000,
  });
}

afterAll(async () => {
  await reconciliationsFinished();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await database.close();
});

// ---------------------------------------------------------------------------------------------
// What is drawn
// ---------------------------------------------------------------------------------------------

const weirdText = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '\u0000',
      'a\u0000b',
      '\ud800',
      '\udfff x',
      '\u202Eevil',
      '👩‍⚕️🏥',
      '診所',
      '0',
      '-1',
      'null',
      'true',
      '[]',
      '{}',
      '%00',
      '../../etc/passwd',
    ),
  },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }) },
  // Rarely huge: most requests should get past the HTTP parser to the app.
  { weight: 1, arbitrary: fc.nat({ max: 20_000 }).map((n) => 'x'.repeat(n)) },
);
const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  weirdText,
  fc.constantFrom(null, true, false, 0, -0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 63, 1e-320),
  fc.integer(),
  fc.double({ noNaN: true }),
  fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
);

/** Plausible values for the formats the contract uses, by pattern or name. */
function plausibleString(schema: Schema, name: string): fc.Arbitrary<string> {
  const pattern = String(schema.pattern ?? '');
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as string[]));
  if (typeof schema.const === 'string') return fc.constant(schema.const);
  if (pattern.includes('0x')) return fc.constantFrom(`0x${'ab'.repeat(20)}`, `0x${'AB'.repeat(20)}`, `0x${'00'.repeat(20)}`);
  if (/amount|Amount/.test(name) || pattern.includes('\\.')) return fc.constantFrom('300.00', '0.01', '0', '99999999.99', '1.005');
  if (name === 'currency') return fc.constantFrom('HKD', 'USD', 'hkd');
  if (name === 'patient_ref') return fc.constantFrom('MRN-1', 'HK-2026-0042', 'a b');
  if (['name', 'description', 'reason'].includes(name)) return fc.constantFrom('Harbour Clinic', 'Consultation 診症', 'x');
  if (schema.format === 'date-time' || /from|to|_at$/.test(name))
    return fc.constantFrom('2026-11-01T00:00:00Z', '2026-12-31T23:59:59Z', '1970-01-01T00:00:00Z');
  if (schema.format === 'uri' || name.includes('url'))
    return fc.constantFrom('https://clinic.example.hk/hooks', 'http://127.0.0.1:1/x', 'http://169.254.169.254/');
  if (pattern.startsWith('^[a-z]+_') || /_id$|^id$/.test(name)) return fc.constantFrom(...knownIds, 'inv_000000000000000000000000');
  return fc.string({ minLength: 1, maxLength: 20 });
}

/** A value following `schema`, with a chance at every level of something else entirely. */
function valueFor(raw: Schema | undefined, name = '', depth = 0): fc.Arbitrary<unknown> {
  const schema = resolve(raw);
  const valid = ((): fc.Arbitrary<unknown> => {
    const variants = (schema.oneOf ?? schema.anyOf) as Schema[] | undefined;
    if (variants) return fc.oneof(...variants.map((variant) => valueFor(variant, name, depth + 1)));
    if (Array.isArray(schema.allOf)) {
      const parts = (schema.allOf as Schema[]).map(resolve);
      const merged: Schema = {
        ...Object.assign({}, ...parts),
        properties: Object.assign({}, ...parts.map((part) => part.properties ?? {})),
        required: parts.flatMap((part) => (part.required as string[] | undefined) ?? []),
      };
      return valueFor(merged, name, depth + 1);
    }
    const type = Array.isArray(schema.type) ? (schema.type as string[])[0] : (schema.type as string | undefined);
    if (depth > 4) return fc.constant(null);
    switch (type ?? (schema.properties ? 'object' : 'string')) {
      case 'object': {
        const properties = (schema.properties ?? {}) as Record<string, Schema>;
        const required = new Set((schema.required as string[] | undefined) ?? []);
        const record = fc.record(Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, valueFor(value, key, depth + 1)])), {
          requiredKeys: Object.keys(properties).filter((key) => required.has(key)),
        });
        return fc
          .tuple(record, rarely(fc.dictionary(fc.string({ maxLength: 8 }), weirdValue, { minKeys: 1, maxKeys: 2 })))
          .map(([r, extra]) => ({ ...r, ...(extra ?? {}) }));
      }
      case 'array':
        return fc.array(valueFor(schema.items as Schema, name, depth + 1), { maxLength: Math.min(Number(schema.maxItems ?? 3), 3) + 1 });
      case 'integer':
        return fc.integer({ min: Number(schema.minimum ?? -10) - 1, max: Math.min(Number(schema.maximum ?? 1e6), 1e9) + 1 });
      case 'number':
        return fc.double({ noNaN: true, noDefaultInfinity: true });
      case 'boolean':
        return fc.boolean();
      default:
        return plausibleString(schema, name);
    }
  })();
  // Mostly valid deep down, so that drawn requests get past the first field and reach the work.
  return fc.oneof({ weight: depth === 0 ? 4 : 15, arbitrary: valid }, { weight: 1, arbitrary: weirdValue });
}

/** `null` mostly; now and then a value from `arbitrary`. */
function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

const authorization = fc.oneof(
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.constantFrom('platform_admin', 'clinic_admin', 'clinic_staff', 'finance', 'auditor'), fc.constantFrom(0, 1, -1), fc.boolean())
      .map(([role, clinic, lower]) => {
        const clinicId = clinic < 0 || ['platform_admin', 'finance', 'auditor'].includes(role) ? undefined : clinics[clinic];
        return `${lower ? 'bearer' : 'Bearer'} ${tokenFor(role as Parameters<typeof tokenFor>[0], role.startsWith('clinic') && clinicId === undefined ? clinics[0] : clinicId)}`;
      }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'Bearer ',
      'Bearer not.a.token',
      'Basic dXNlcjpwdw==',
      `Bearer ${signHs256Token({ ...TEST_JWT, role: 'platform_admin', sub: 'expired', ttlSeconds: -60 })}`,
      `Bearer ${signHs256Token({ ...TEST_JWT, secret: 'another-secret-0123456789abcdef0123456789', role: 'platform_admin', sub: 'forged', ttlSeconds: 600 })}`,
      `Bearer ${signHs256Token({ ...TEST_JWT, role: 'clinic_admin', sub: 'ghost', clinicId: 'clin_000000000000000000000000', ttlSeconds: 600 })}`,
      `Bearer ${signHs256Token({ ...TEST_JWT, role: 'root', sub: 'root', ttlSeconds: 600 } as never)}`,
    ),
  },
);

const contentType = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/merge-patch+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  undefined,
);

const pathSegment = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(...['inv_000000000000000000000000', 'clin_000000000000000000000000'])
      .chain((fallback) => fc.constantFrom(fallback, ...knownIds)),
  },
  { weight: 1, arbitrary: weirdText.map((text) => percentEncode(text.slice(0, 300)) || 'x') },
  { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%C0%AF', '%ED%A0%80', '%00', '%2F..%2F', '%FF%FE') },
);

/** Percent-encodes the UTF-8 bytes of any string (a lone surrogate becomes U+FFFD, as on the wire). */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, '0').toUpperCase()}`))
    .join('');
}

interface DrawnRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

const drawnRequest: fc.Arbitrary<DrawnRequest> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom(...OPERATIONS).chain((operation) =>
      fc
        .record({
          segments: fc.array(pathSegment, { minLength: 4, maxLength: 4 }),
          query: fc.tuple(
            ...operation.parameters
              .filter((p) => p.in === 'query')
              .map((p) => fc.option(valueFor(p.schema, p.name).map((value) => [p.name, typeof value === 'string' ? value : JSON.stringify(value)] as const))),
            rarely(fc.tuple(weirdText, weirdText)),
          ),
          body: operation.body ? fc.option(valueFor(operation.body), { freq: 8 }) : rarely(weirdValue),
          bodyShape: fc.oneof({ weight: 12, arbitrary: fc.constant('json' as const) }, fc.constantFrom('truncated' as const, 'text' as const, 'deep' as const)),
          authorization,
          contentType,
          idempotencyKey: fc.option(
            fc.oneof(
              { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 8, maxLength: 16 }) },
              // What a header can carry at all (fetch sends no control characters or code points above U+00FF).
              { weight: 1, arbitrary: weirdText.map((text) => text.replace(/[^\x20-\x7e\x80-\xff]/g, '').trim()) },
            ),
          ),
          method: fc.oneof(
            { weight: 9, arbitrary: fc.constant(operation.method) },
            { weight: 1, arbitrary: fc.constantFrom('put', 'delete', 'patch', 'post') },
          ),
        })
        .map(({ segments, query, body, bodyShape, authorization, contentType, idempotencyKey, method }) => {
          let index = 0;
          const path = operation.path.replace(/\{[^}]+\}/g, () => segments[index++] ?? 'x');
          const search = new URLSearchParams();
          for (const pair of query) if (pair) search.append(String(pair[0]), String(pair[1]).slice(0, 5000));
          const headers: Record<string, string> = {};
          if (authorization) headers.authorization = authorization;
          if (idempotencyKey !== null) headers['idempotency-key'] = idempotencyKey.slice(0, 400);
          let text: string | undefined;
          // fetch sends no body with GET or HEAD.
          if (body !== null && !['get', 'head'].includes(method)) {
            const json = JSON.stringify(body) ?? 'null';
            text = { json, truncated: json.slice(0, Math.max(1, json.length - 2)), text: 'name=x&y=1', deep: `${'['.repeat(5000)}${']'.repeat(5000)}` }[
              bodyShape
            ];
            if (contentType) headers['content-type'] = contentType;
          }
          const qs = search.toString();
          return { method, path: qs ? `${path}?${qs}` : path, headers, body: text };
        }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      method: fc.constantFrom('get', 'post', 'options', 'head'),
      path: fc.oneof(
        weirdText.map((text) => `/v1/${percentEncode(text.slice(0, 200))}`),
        fc.constantFrom('/v2/invoices', '/v1', '/checkout', '/.env'),
      ),
      headers: fc.constant({}),
      body: fc.constant(undefined),
    }),
  },
);

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

/** Waits until two reads of the row counts 100 ms apart agree. */
async function rowCountsSettled(): Promise<void> {
  let last = JSON.stringify(await rowCounts());
  await waitFor(
    async () => {
      const now = JSON.stringify(await rowCounts());
      const same = now === last;
      last = now;
      return same;
    },
    { what: 'writes after an accepted request to finish', timeoutMs: 10_000, intervalMs: 100 },
  );
}

async function rowCounts(): Promise<Record<string, string>> {
  const result = (await database.db.raw(
    `SELECT (SELECT count(*) FROM clinics) AS clinics, (SELECT count(*) FROM invoices) AS invoices,
            (SELECT count(*) FROM journal_entries) AS journal_entries, (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM audit_inbox) AS audit_events`,
  )) as { rows: Record<string, string>[] };
  return result.rows[0]!;
}

describe('the API under fuzzed requests', () => {
  it(
    'never answers 5xx; every error is problem+json with its status, and changes nothing',
    async () => {
      let ran = 0;
      await fc.assert(
        fc.asyncProperty(drawnRequest, async (drawn) => {
          const before = await rowCounts();
          let response: Response;
          try {
            response = await fetch(`${baseUrl}${drawn.path}`, { method: drawn.method.toUpperCase(), headers: drawn.headers, body: drawn.body });
          } catch (error) {
            // The client refused to send it (a header value fetch will not put on the wire): not a request the server saw.
            if (error instanceof TypeError && !String(error.cause ?? '').includes('ECONNRESET')) return;
            throw error;
          }
          const text = await response.text();
          ran += 1;
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
          const where = `${drawn.method.toUpperCase()} ${drawn.path.slice(0, 200)} → ${response.status}`;
          expect(response.status, `${where}: ${text.slice(0, 300)}`).toBeLessThan(500);
          if (response.status < 400) {
            // Some accepted work goes on after its answer (a reconciliation runs, a statement is sealed once streamed):
            // let it finish before the next request is judged by what it changed.
            if (drawn.method === 'post' && drawn.path.startsWith('/v1/reconciliations')) await reconciliationsFinished();
            await rowCountsSettled();
            return;
          }
          const type = response.headers.get('content-type') ?? '';
          const declared = operationOf(drawn.method, drawn.path)?.responses[String(response.status)] ?? [];
          if (declared.includes('text/html') && type.startsWith('text/html')) {
            // The patient's pages answer errors with a page, as the contract says.
            expect(text, where).toContain('<html');
          } else if (drawn.method !== 'head') {
            expect(type, where).toMatch(/^application\/problem\+json/);
            const problem = JSON.parse(text) as { status: number; code: string; title: string };
            expect(problem.status, where).toBe(response.status);
            expect(problem.code, where).toMatch(/^[a-z_]+$/);
          }
          expect(await rowCounts(), `${where} changed rows`).toEqual(before);
        }),
        { seed: SEED, numRuns: 5000, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false, endOnFailure: true },
      );
      const summary = [...statuses.entries()]
        .sort(([a], [b]) => a - b)
        .map(([status, count]) => `${status}×${count}`)
        .join(' ');
      console.log(`fuzz: ${ran} requests (seed ${SEED}): ${summary}`);
      // Enough requests were tried to mean something, and some of them were accepted.
      expect(ran).toBeGreaterThan(300);
      expect([...statuses.keys()].some((status) => status < 300)).toBe(true);
    },
    TIME_LIMIT_MS + 60_000,
  );
});

describe('requests Node itself cannot parse', () => {
  /** Sends raw bytes and reads the whole answer. */
  function raw(bytes: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1', () => socket.write(bytes));
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.on('error', reject);
    });
  }

  it('answers headers over 16 KiB with a 431 problem, and a broken request line with a 400 problem', async () => {
    const tooLarge = await raw(`GET /v1/invoices?${'q=1&'.repeat(5000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(tooLarge).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(tooLarge).toContain('Content-Type: application/problem+json');
    expect(JSON.parse(tooLarge.split('\r\n\r\n')[1]!)).toMatchObject({ status: 431, code: 'headers_too_large' });

    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(garbage.split('\r\n\r\n')[1]!)).toMatchObject({ status: 400, code: 'bad_request' });
  });
});
