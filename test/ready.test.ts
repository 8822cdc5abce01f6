import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Anvil, startAnvil } from '../src/dev/anvil.js';
import { freePort } from '../src/dev/processes.js';
import { createDb } from '../src/platform/db.js';
import { waitFor } from '../src/platform/waitFor.js';
import { buildTestApp } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;
let workDir: string;

beforeAll(async () => {
  database = await createTestDatabase();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-ready-'));
});

afterAll(async () => {
  await database.close();
  fs.rmSync(workDir, { recursive: true, force: true });
});

describe('GET /ready when a dependency fails', () => {
  it('answers 503 with the reason while the RPC node is down, keeps serving, and recovers by itself', async () => {
    const port = await freePort();
    const logFile = path.join(workDir, 'anvil.log');
    let anvil: Anvil = await startAnvil({ logFile, port });
    const { app } = await buildTestApp({ db: database.db, rpcUrl: anvil.rpcUrl });
    try {
      expect((await request(app).get('/ready')).status).toBe(200);

      await anvil.stop();
      // /ready reuses its answer for READY_CACHE_MS: the outage shows within a moment.
      const down = await waitFor(
        async () => {
          const answer = await request(app).get('/ready');
          return answer.status === 503 && answer;
        },
        { what: '/ready to report the node down', timeoutMs: 5000 },
      );
      expect(down.status).toBe(503);
      expect(down.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(down.body.code).toBe('not_ready');
      expect(down.body.detail).toMatch(/^rpc: /);
      expect(down.body.checks.database.ok).toBe(true);
      expect(down.body.checks.rpc.ok).toBe(false);
      expect((await request(app).get('/health')).status).toBe(200);

      anvil = await startAnvil({ logFile, port });
      await waitFor(async () => (await request(app).get('/ready')).status === 200, { what: '/ready to recover', timeoutMs: 10_000 });
    } finally {
      await anvil.stop();
    }
  });

  it('answers 503 naming the database when Postgres does not answer, without leaking its URL', async () => {
    const deadDb = createDb({ connectionString: `postgres://postgres:s3cret-pw@127.0.0.1:${await freePort()}/nothing` });
    try {
      const { app } = await buildTestApp({ db: deadDb });
      const response = await request(app).get('/ready');
      expect(response.status).toBe(503);
      expect(response.body.detail).toMatch(/^database: /);
      expect(response.body.checks.rpc.ok).toBe(true);
      expect(JSON.stringify(response.body)).not.toContain('s3cret-pw');
    } finally {
      await deadDb.destroy();
    }
  });
});
