/**
 * The real app, wired to the test run's real Postgres and anvil, and tokens to call it with.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import request from 'supertest';
import { expect, inject } from 'vitest';
import { type AppDeps, createApp } from '../../src/app.js';
import type { AuditActor } from '../../src/audit/auditLog.js';
import { createChainClient } from '../../src/chain/client.js';
import type { PaymentNetwork } from '../../src/chain/paymentNetwork.js';
import { loadPaymentNetwork } from '../../src/chain/paymentNetwork.js';
import type { ApiContract } from '../../src/http/openapi.js';
import { createJwtVerifier, signHs256Token } from '../../src/identity/jwt.js';
import type { Role } from '../../src/identity/principal.js';
import { CANONICAL_MULTICALL3 } from '../../src/platform/config.js';
import type { Db } from '../../src/platform/db.js';
import { createLogger } from '../../src/platform/log.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { OPENAPI_PATH } from '../../src/platform/paths.js';
import { SecretBox } from '../../src/platform/secretBox.js';
import { builtContracts } from './contractCheck.js';

/** Who the audit log says set up a test's data (invoices made straight through billing/). */
export const TEST_ACTOR: AuditActor = { actor: 'test-setup', role: 'clinic_admin' };

export const TEST_JWT = { secret: 'test-only-secret-0123456789abcdef0123456789', issuer: 'clinicpay', audience: 'clinicpay-api' } as const;
/** The key that seals clinics' webhook secrets in tests: a fresh one per test process. */
export const TEST_SECRET_KEY = { id: 'test', key: randomBytes(32) } as const;
export const TEST_SECRETS = new SecretBox([TEST_SECRET_KEY]);

/** Log lines the app wrote, for assertions about what is (not) logged. */
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
  /** Defaults to the run's shared token and factory. */
  network?: PaymentNetwork;
  overrides?: Partial<AppDeps>;
}

let sharedNetwork: Promise<PaymentNetwork> | undefined;

/** The run's shared token and factory, described by the chain. */
export function testNetwork(): Promise<PaymentNetwork> {
  sharedNetwork ??= loadPaymentNetwork({
    chain: createChainClient({ rpcUrl: inject('rpcUrl'), timeoutMs: 5000 }),
    tokens: inject('tokenAddress'),
    factory: inject('factoryAddress'),
    // The run's anvil has it there (test/globalSetup.ts deploys the dev contracts).
    multicall3: CANONICAL_MULTICALL3,
    timeoutMs: 10_000,
  });
  return sharedNetwork;
}

export async function buildTestApp({ db, rpcUrl = inject('rpcUrl'), log = new CapturedLog(), network, overrides = {} }: TestAppOptions) {
  const app = createApp({
    db,
    chain: createChainClient({ rpcUrl, timeoutMs: 2000 }),
    logger: createLogger('info', log),
    metrics: createMetrics(),
    openapiYaml: fs.readFileSync(OPENAPI_PATH, 'utf8'),
    bodyLimitBytes: 100 * 1024,
    readinessTimeoutMs: 2000,
    network: network ?? (await testNetwork()),
    verifyToken: createJwtVerifier({ algorithm: 'HS256', key: TEST_JWT.secret, ...TEST_JWT }),
    finality: { confirmations: 3, useFinalizedTag: false, maxBlockRange: 2000n },
    secrets: TEST_SECRETS,
    // Off unless a test is about them: suites make many requests from one address.
    rateLimits: { publicPerMinute: 0, expensivePerMinute: 0, anchorsPerHour: 0, failedAuthPerMinute: 0, signInPerMinute: 0 },
    ...overrides,
  });
  builtContracts.push(app.locals.contract as ApiContract);
  return { app, log };
}

/** A valid bearer token for `role` (confined to `clinicId` when given). */
export function tokenFor(role: Role, clinicId?: string, sub = `user-${role}`): string {
  return signHs256Token({ ...TEST_JWT, role, sub, clinicId, ttlSeconds: 600 });
}

export function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

/** A clinic onboarded through the API by a platform admin, as an operator does it; returns its id. */
export async function onboardClinic(app: Express, name: string, settlementAddress = `0x${'cd'.repeat(20)}`): Promise<string> {
  const response = await request(app)
    .post('/v1/clinics')
    .set(bearer(tokenFor('platform_admin')))
    .set('Idempotency-Key', randomUUID())
    .send({ name, settlement_address: settlementAddress });
  expect(response.status, response.text).toBe(201);
  return response.body.id as string;
}
