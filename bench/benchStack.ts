/**
 * What every benchmark stands on: a scratch folder, an embedded Postgres and an anvil of its
 * own, the dev token, deposit factory and Multicall3 deployed on it, and everything stopped
 * again (in the reverse order it was started) and removed when the bench ends.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import type { Address } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createApp } from '../src/app.js';
import type { AuditActor } from '../src/audit/auditLog.js';
import { type CreatedClinic, createClinic } from '../src/billing/clinics.js';
import type { ChainClient } from '../src/chain/client.js';
import type { PaymentNetwork } from '../src/chain/paymentNetwork.js';
import { loadPaymentNetwork } from '../src/chain/paymentNetwork.js';
import { type Anvil, DEV_CHAIN_ID, startAnvil } from '../src/dev/anvil.js';
import { ensureDevContracts } from '../src/dev/contracts.js';
import { type EmbeddedPostgres, ensureDatabase, startEmbeddedPostgres } from '../src/dev/postgres.js';
import { createJwtVerifier } from '../src/identity/jwt.js';
import { createDb, type Db, type Trx } from '../src/platform/db.js';
import { createLogger } from '../src/platform/log.js';
import { createMetrics } from '../src/platform/metrics.js';
import { migrateLatest } from '../src/platform/migrate.js';
import { OPENAPI_PATH } from '../src/platform/paths.js';
import { SecretBox } from '../src/platform/secretBox.js';

/** Who the audit log says set up a benchmark's clinics and invoices. */
export const BENCH_ACTOR: AuditActor = { actor: 'bench', role: 'clinic_admin' };
/** Seals the bench clinics' webhook secrets. */
export const BENCH_SECRETS = new SecretBox([{ id: 'bench', key: randomBytes(32) }]);

/** A clinic for a benchmark's invoices and entries, settling to a fresh address, with no webhook URL. */
export function createBenchClinic(trx: Trx, name = 'Bench Clinic'): Promise<CreatedClinic> {
  return createClinic(trx, BENCH_ACTOR, {
    name,
    settlementAddress: privateKeyToAccount(generatePrivateKey()).address,
    webhookUrl: undefined,
    secrets: BENCH_SECRETS,
  });
}

export interface BenchAppParameters {
  db: Db;
  chain: ChainClient;
  network: PaymentNetwork;
  /** The HS256 secret, issuer and audience the app verifies bearer tokens with. */
  jwt: { secret: string; issuer: string; audience: string };
}

/** The gateway's real Express app as the benchmarks serve it: silent logs, 3 confirmations, HS256 tokens. */
export function benchApp({ db, chain, network, jwt }: BenchAppParameters): Express {
  return createApp({
    db,
    secrets: BENCH_SECRETS,
    chain,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    openapiYaml: fs.readFileSync(OPENAPI_PATH, 'utf8'),
    bodyLimitBytes: 100 * 1024,
    readinessTimeoutMs: 2000,
    network,
    verifyToken: createJwtVerifier({ algorithm: 'HS256', key: jwt.secret, issuer: jwt.issuer, audience: jwt.audience }),
    finality: { confirmations: 3, useFinalizedTag: false, maxBlockRange: 2000n },
  });
}

export class BenchStack {
  private readonly stoppers: (() => Promise<unknown>)[] = [];

  private constructor(readonly workDir: string) {}

  /** A scratch folder under the OS temp dir, world-searchable: Postgres runs as its own user when we are root (and reads COPY files itself). */
  static create(name: string): BenchStack {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `clinicpay-bench-${name}-`));
    fs.chmodSync(workDir, 0o755);
    return new BenchStack(workDir);
  }

  /** Runs `stop` when the bench ends, before whatever was registered earlier. */
  onStop(stop: () => Promise<unknown>): void {
    this.stoppers.push(stop);
  }

  /** An embedded Postgres and an anvil, both in the scratch folder. */
  async startPostgresAndAnvil(): Promise<{ postgres: EmbeddedPostgres; anvil: Anvil }> {
    const postgres = await startEmbeddedPostgres({
      dataDir: path.join(this.workDir, 'postgres'),
      password: randomBytes(16).toString('hex'),
      logFile: path.join(this.workDir, 'postgres.log'),
      ephemeral: false,
    });
    this.onStop(() => postgres.stop());
    const anvil = await startAnvil({ logFile: path.join(this.workDir, 'anvil.log') });
    this.onStop(() => anvil.stop());
    return { postgres, anvil };
  }

  /** Database `name` on `postgres`, created and migrated, with a pool closed when the bench ends. */
  async migratedDatabase(postgres: EmbeddedPostgres, name: string, poolMax?: number): Promise<Db> {
    await ensureDatabase(postgres.urlFor('postgres'), name);
    const db = createDb({ connectionString: postgres.urlFor(name), ...(poolMax === undefined ? {} : { poolMax }) });
    this.onStop(() => db.destroy());
    await migrateLatest(db);
    return db;
  }

  /** The dev token, deposit factory and Multicall3 on `anvil`, with `payers` funded, as the gateway sees them. */
  async deployNetwork(chain: ChainClient, anvil: Anvil, payers: readonly Address[] = []): Promise<PaymentNetwork> {
    const deployments = await ensureDevContracts({
      chain,
      rpcUrl: anvil.rpcUrl,
      chainId: DEV_CHAIN_ID,
      deployer: privateKeyToAccount(generatePrivateKey()),
      payers,
      gasAccounts: [],
      recordFile: path.join(this.workDir, 'deployments.json'),
    });
    return loadPaymentNetwork({ chain, tokens: deployments.token, factory: deployments.factory, multicall3: deployments.multicall3, timeoutMs: 10_000 });
  }

  /** Stops everything registered, newest first, and removes the scratch folder. */
  async close(): Promise<void> {
    for (const stop of this.stoppers.reverse()) await stop().catch((error: unknown) => console.error('bench cleanup:', error));
    fs.rmSync(this.workDir, { recursive: true, force: true });
  }
}
