/**
 * The error catalogue: every code the sources raise is in it and in openapi.yaml, and every
 * problem `type` URI resolves to a page (for browsers) or JSON (for programs) saying what
 * happened and what to do.
 */
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { OPENAPI_PATH } from '../src/platform/paths.js';
import { PROBLEMS } from '../src/platform/problems.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let app: Awaited<ReturnType<typeof buildTestApp>>['app'];

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
});

afterAll(async () => {
  await database.close();
});

const catalogue = Object.keys(PROBLEMS).sort();

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}

/**
 * Codes the sources raise: the first argument of `super(…)`, `new ClinicPayError(…)` and
 * `problemFor(…)`, a snake_case first argument of any other error's constructor, and the
 * literals of a constructor's `code` parameter type.
 */
function codesRaisedInSources(): string[] {
  const sources = walk(path.resolve(import.meta.dirname, '../src')).filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'));
  const codes = new Set<string>();
  for (const file of sources) {
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:\bnew ClinicPayError|\bsuper|\bproblemFor)\(\s*'([a-z][a-z_]*)'/g)) codes.add(match[1]!);
    for (const match of text.matchAll(/\bnew \w+Error\(\s*'([a-z]+_[a-z_]+)'/g)) codes.add(match[1]!);
    for (const match of text.matchAll(/\bconstructor\(code: ('[a-z_]+'(?: \| '[a-z_]+')+)/g))
      for (const literal of match[1]!.matchAll(/'([a-z_]+)'/g)) codes.add(literal[1]!);
  }
  return [...codes].sort();
}

describe('the error catalogue', () => {
  it('is the list openapi.yaml documents as ProblemCode', () => {
    const document = YAML.parse(fs.readFileSync(OPENAPI_PATH, 'utf8')) as { components: { schemas: { ProblemCode: { enum: string[] } } } };
    expect([...document.components.schemas.ProblemCode.enum].sort()).toEqual(catalogue);
  });

  it('holds every code the sources raise', () => {
    const raised = codesRaisedInSources();
    expect(raised.length).toBeGreaterThan(15);
    expect(raised.filter((code) => !catalogue.includes(code))).toEqual([]);
  });

  it('gives every code a status, what happened and what to do', () => {
    for (const [code, kind] of Object.entries(PROBLEMS)) {
      expect(kind.status, code).toBeGreaterThanOrEqual(400);
      expect(kind.happened.length, code).toBeGreaterThan(10);
      expect(kind.todo.length, code).toBeGreaterThan(10);
    }
  });
});

describe('GET /problems/{code}', () => {
  it('resolves the type URI of a real problem response, as JSON for a program', async () => {
    const problem = await request(app).get('/v1/invoices').set(bearer('not-a-token'));
    expect(problem.status).toBe(401);
    const type = problem.body.type as string;
    const page = await request(app).get(type);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^application\/json/);
    expect(page.body).toEqual({
      object: 'problem_type',
      type,
      code: 'invalid_token',
      status: 401,
      title: 'Unauthorized',
      happened: PROBLEMS.invalid_token.happened,
      todo: PROBLEMS.invalid_token.todo,
    });
  });

  it('answers every catalogue code, and a page for a browser', async () => {
    for (const code of catalogue) {
      const json = await request(app).get(`/problems/${code}`);
      expect(json.status, code).toBe(200);
      expect(json.body.code).toBe(code);
    }
    const html = await request(app).get('/problems/idempotency_key_reused').set('Accept', 'text/html,application/xhtml+xml,*/*;q=0.8');
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.headers['content-security-policy']).toContain("default-src 'none'");
    expect(html.text).toContain('<code>idempotency_key_reused</code>');
    expect(html.text).toContain('What to do');
    expect(html.text).toContain('Use a new key for a new request');
  });

  it('lists the whole catalogue at /problems', async () => {
    const list = await request(app).get('/problems');
    expect(list.status).toBe(200);
    expect((list.body.data as { code: string }[]).map((entry) => entry.code).sort()).toEqual(catalogue);
  });

  it('answers an unknown code with a 404 problem that does not echo markup', async () => {
    const unknown = await request(app).get('/problems/%3Cscript%3Enope');
    expect(unknown.status).toBe(404);
    expect(unknown.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(unknown.body.code).toBe('not_found');
    expect(unknown.text).not.toContain('<script>');
  });

  it('is public: no token needed, and a token changes nothing', async () => {
    const anonymous = await request(app).get('/problems/not_found');
    const withToken = await request(app)
      .get('/problems/not_found')
      .set(bearer(tokenFor('auditor')));
    expect(anonymous.status).toBe(200);
    expect(withToken.body).toEqual(anonymous.body);
  });
});
