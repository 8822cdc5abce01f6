/**
 * One embedded Postgres and one anvil for the whole run. Each test file then takes its own
 * database, cloned from a migrated template (test/support/database.ts), so files run in
 * parallel without seeing each other's rows.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import type { TestProject } from 'vitest/node';
import { createChainClient } from '../src/chain/client.js';
import { DEV_CHAIN_ID, startAnvil } from '../src/dev/anvil.js';
import { ensureDevContracts } from '../src/dev/contracts.js';
import { type DatabaseRoles, ensureDatabase, ensureDatabaseRoles, startEmbeddedPostgres } from '../src/dev/postgres.js';
import { createDb } from '../src/platform/db.js';
import { prepareDatabase } from '../src/platform/migrate.js';

export const TEMPLATE_DATABASE = 'clinicpay_template';
const TEST_DATABASE_ROLES: DatabaseRoles = {
  owner: { name: 'clinicpay_owner', password: 'test-owner' },
  app: { name: 'clinicpay_app', password: 'test-app' },
};

declare module 'vitest' {
  export interface ProvidedContext {
    postgresAdminUrl: string;
    templateDatabase: string;
    /** The two roles of a production deployment, set up on the template and so on every test database. */
    databaseRoles: DatabaseRoles;
    rpcUrl: string;
    tokenAddress: `0x${string}`;
    factoryAddress: `0x${string}`;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Under the OS temp dir and world-searchable: Postgres runs as its own user when we are root.
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-test-'));
  fs.chmodSync(workDir, 0o755);
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(workDir, 'postgres'),
    password: 'test',
    logFile: path.join(workDir, 'postgres.log'),
    ephemeral: true,
  });
  const anvil = await startAnvil({ logFile: path.join(workDir, 'anvil.log') });

  await ensureDatabase(postgres.urlFor('postgres'), TEMPLATE_DATABASE);
  // As in production: the schema belongs to an owner role, which migrates and grants; the app
  // role the tests connect as may only do what the gateway needs.
  const roles = await ensureDatabaseRoles(postgres.urlFor(TEMPLATE_DATABASE), TEST_DATABASE_ROLES);
  const template = createDb({ connectionString: roles.appUrl, poolMax: 1 });
  await prepareDatabase({ db: template, appUrl: roles.appUrl, migrationUrl: roles.ownerUrl });
  await template.destroy();

  project.provide('postgresAdminUrl', postgres.urlFor('postgres'));
  project.provide('templateDatabase', TEMPLATE_DATABASE);
  project.provide('databaseRoles', TEST_DATABASE_ROLES);
  project.provide('rpcUrl', anvil.rpcUrl);

  // One 6-decimal token and one deposit factory for tests that need "the" network; tests of
  // the contracts themselves deploy their own.
  const deployments = await ensureDevContracts({
    chain: createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 }),
    rpcUrl: anvil.rpcUrl,
    chainId: DEV_CHAIN_ID,
    deployer: privateKeyToAccount(generatePrivateKey()),
    payers: [],
    gasAccounts: [],
    recordFile: path.join(workDir, 'deployments.json'),
  });
  project.provide('tokenAddress', deployments.token);
  project.provide('factoryAddress', deployments.factory);

  return async () => {
    await anvil.stop();
    await postgres.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  };
}
