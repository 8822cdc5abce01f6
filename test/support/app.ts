/**
 * The real app, wired to the test run's real Postgres and anvil.
 */
import fs from 'node:fs';
import { Writable } from 'node:stream';
import { inject } from 'vitest';
import { createApp, type AppDeps } from '../../src/app.js';
import { createChainClient } from '../../src/chain/client.js';
import type { Db } from '../../src/db/knex.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { OPENAPI_PATH } from '../../src/paths.js';

/** Log lines the app wrote, parsed, for assertions about what is (not) logged. */
export class CapturedLog extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestAppOptions {
  db: Db;
  rpcUrl?: string;
  log?: CapturedLog;
  overrides?: Partial<AppDeps>;
}

export function buildTestApp({ db, rpcUrl = inject('rpcUrl'), log = new CapturedLog(), overrides = {} }: TestAppOptions) {
  const app = createApp({
    db,
    chain: createChainClient({ rpcUrl, timeoutMs: 2000 }),
    logger: createLogger('info', log),
    metrics: createMetrics(),
    openapiYaml: fs.readFileSync(OPENAPI_PATH, 'utf8'),
    bodyLimitBytes: 100 * 1024,
    readinessTimeoutMs: 2000,
    ...overrides,
  });
  return { app, log };
}
