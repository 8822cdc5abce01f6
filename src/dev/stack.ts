/**
 * dev/ — the embedded development stack: PostgreSQL and anvil from npm, the test contracts,
 * dev accounts and secrets, the demo clinic and `dev-stack.json`. Loaded only when the
 * configuration leaves a piece out; never in production.
 *
 * The embedded dev stack: whatever of Postgres and the chain the environment does not provide,
 * started locally with its data kept in `DATA_DIR` between runs.
 *
 * Owns tables: none.
 * May import: platform, domain, audit, identity, chain, billing.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Address } from 'viem';
import { createChainClient } from '../chain/client.js';
import type { AcceptedTokenConfig, Config } from '../platform/config.js';
import type { Logger } from '../platform/log.js';
import { CLINIC_WALLET_INDEX, DEPLOYER_INDEX, type DevAccount, devAccount, PAYER_INDEXES, RELAYER_INDEX } from './accounts.js';
import { type Anvil, DEV_CHAIN_ID, startAnvil } from './anvil.js';
import { devAcceptedTokens, ensureDevContracts } from './contracts.js';
import { type EmbeddedPostgres, ensureDatabase, ensureDatabaseRoles, isReachableByOthers, startEmbeddedPostgres } from './postgres.js';
import { isRunning, stopOrphan } from './processes.js';
import { type DevSecrets, loadOrCreateDevSecrets } from './secrets.js';

export const DEV_DATABASE = 'clinicpay';
/** The roles of the embedded database: the schema's owner (migrations) and the gateway's. */
export const DEV_DATABASE_ROLES = { owner: 'clinicpay_owner', app: 'clinicpay_app' } as const;

export interface DevStack {
  /** As the gateway's least-privileged role when the stack runs Postgres. */
  databaseUrl: string;
  /** As the schema's owner, for migrations and grants; only when the stack runs Postgres. */
  migrationDatabaseUrl: string | undefined;
  rpcUrl: string | undefined;
  /** Present when the stack runs its own chain. */
  chain:
    | {
        chainId: number;
        tokenAddress: Address;
        acceptedTokens: AcceptedTokenConfig[];
        sanctionsOracle: Address;
        factoryAddress: Address;
        payers: DevAccount[];
        clinicWallet: DevAccount;
        relayer: DevAccount;
      }
    | undefined;
  secrets: DevSecrets;
  /** Where Postgres keeps its data (may differ from DATA_DIR when running as root). */
  postgresDataDir: string | undefined;
  stop(): Promise<void>;
}

/**
 * The Postgres data directory: inside DATA_DIR, unless we run as root and DATA_DIR sits below a
 * folder the postgres user cannot enter; then a stable folder under the OS temp dir.
 */
function postgresDataDir(dataDir: string): string {
  const preferred = path.join(dataDir, 'postgres');
  if (process.getuid?.() !== 0 || isReachableByOthers(preferred)) return preferred;
  const key = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
  const base = path.join(os.tmpdir(), `clinicpay-${key}`);
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  fs.chmodSync(base, 0o755);
  return path.join(base, 'postgres');
}

function claimDataDir(dataDir: string): string {
  const lockFile = path.join(dataDir, 'gateway.pid');
  if (fs.existsSync(lockFile)) {
    const pid = Number(fs.readFileSync(lockFile, 'utf8').trim());
    if (pid !== process.pid && Number.isInteger(pid) && pid > 0 && isRunning(pid, 'node')) {
      throw new Error(`another ClinicPay process (pid ${pid}) is running the dev stack in ${dataDir}; stop it first or set DATA_DIR`);
    }
  }
  fs.writeFileSync(lockFile, `${process.pid}\n`);
  return lockFile;
}

export interface StartDevStackOptions {
  /** Start the embedded chain when RPC_URL is unset (default); `false` for database-only commands. */
  withChain?: boolean;
}

/** Starts what is missing from the environment and returns where everything is. */
export async function startDevStack(config: Config, logger: Logger, { withChain = true }: StartDevStackOptions = {}): Promise<DevStack> {
  const { dataDir } = config;
  fs.mkdirSync(path.join(dataDir, 'logs'), { recursive: true });
  const lockFile = claimDataDir(dataDir);
  const secrets = loadOrCreateDevSecrets(dataDir);
  const stoppers: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const stopOne of stoppers.reverse()) await stopOne();
    fs.rmSync(lockFile, { force: true });
  };

  try {
    let databaseUrl = config.databaseUrl;
    let migrationDatabaseUrl: string | undefined;
    let pgDataDir: string | undefined;
    if (databaseUrl === undefined) {
      pgDataDir = postgresDataDir(dataDir);
      const postgres: EmbeddedPostgres = await startEmbeddedPostgres({
        dataDir: pgDataDir,
        password: secrets.postgres_password,
        logFile: path.join(dataDir, 'logs', 'postgres.log'),
      });
      stoppers.push(() => postgres.stop());
      await ensureDatabase(postgres.urlFor('postgres'), DEV_DATABASE);
      const roles = await ensureDatabaseRoles(postgres.urlFor(DEV_DATABASE), {
        owner: { name: DEV_DATABASE_ROLES.owner, password: secrets.postgres_owner_password },
        app: { name: DEV_DATABASE_ROLES.app, password: secrets.postgres_app_password },
      });
      databaseUrl = roles.appUrl;
      migrationDatabaseUrl = roles.ownerUrl;
      logger.info({ port: postgres.port, data_dir: pgDataDir }, 'embedded postgres started');
    }

    let rpcUrl = config.rpcUrl;
    let chain: DevStack['chain'];
    if (rpcUrl === undefined && withChain) {
      const pidFile = path.join(dataDir, 'anvil.pid');
      if (fs.existsSync(pidFile)) await stopOrphan(Number(fs.readFileSync(pidFile, 'utf8').trim()), 'anvil');
      const anvil: Anvil = await startAnvil({
        logFile: path.join(dataDir, 'logs', 'anvil.log'),
        blockTimeSeconds: config.devBlockTimeSeconds,
        stateFile: path.join(dataDir, 'anvil-state.json'),
      });
      fs.writeFileSync(pidFile, `${anvil.process.pid}\n`);
      stoppers.push(async () => {
        await anvil.stop();
        fs.rmSync(pidFile, { force: true });
      });
      rpcUrl = anvil.rpcUrl;
      const payers = PAYER_INDEXES.map((index) => devAccount(secrets.mnemonic, index));
      const clinicWallet = devAccount(secrets.mnemonic, CLINIC_WALLET_INDEX);
      const relayer = devAccount(secrets.mnemonic, RELAYER_INDEX);
      const deployments = await ensureDevContracts({
        chain: createChainClient({ rpcUrl, timeoutMs: config.rpcTimeoutMs }),
        rpcUrl,
        chainId: DEV_CHAIN_ID,
        deployer: devAccount(secrets.mnemonic, DEPLOYER_INDEX).account,
        payers: payers.map((payer) => payer.address),
        gasAccounts: [clinicWallet.address, relayer.address],
        recordFile: path.join(dataDir, 'deployments.json'),
      });
      chain = {
        chainId: DEV_CHAIN_ID,
        tokenAddress: deployments.token,
        acceptedTokens: devAcceptedTokens(deployments),
        sanctionsOracle: deployments.oracle,
        factoryAddress: deployments.factory,
        payers,
        clinicWallet,
        relayer,
      };
      logger.info({ port: anvil.port, token_addresses: deployments.tokens, factory_address: deployments.factory }, 'embedded anvil started');
    }
    return { databaseUrl, migrationDatabaseUrl, rpcUrl, chain, secrets, postgresDataDir: pgDataDir, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
