/**
 * The gateway process: config -> dev stack (if embedded) -> migrate -> HTTP + workers, and the
 * orderly way back down on SIGINT/SIGTERM.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { privateKeyToAccount } from 'viem/accounts';
import { createApp } from './app.js';
import { appendAudit, SYSTEM } from './audit/auditLog.js';
import { sealWebhookSecrets } from './billing/clinics.js';
import { type ChainClient, createChainClient } from './chain/client.js';
import { initCursor, readCursor } from './chain/cursor.js';
import { finalityFromConfig } from './chain/finality.js';
import type { PaymentNetwork } from './chain/paymentNetwork.js';
import { loadPaymentNetwork, TokenPinError } from './chain/paymentNetwork.js';
import { writeDevStackFile } from './dev/devStackFile.js';
import type { DevIdentityProvider, DevPerson } from './dev/identityProvider.js';
import { loadOrCreateDevSecrets } from './dev/secrets.js';
import type { DevStack } from './dev/stack.js';
import { moneyChecks } from './doctor.js';
import { createHttpServer } from './http/server.js';
import { createJwtVerifier, type JwtKey } from './identity/jwt.js';
import { OidcRelyingParty } from './identity/oidc.js';
import { type Config, jwtAlgorithmForKey } from './platform/config.js';
import { createDb, type Db } from './platform/db.js';
import type { Logger } from './platform/log.js';
import { createMetrics } from './platform/metrics.js';
import { databaseRoleProblems, pendingMigrations, prepareDatabase } from './platform/migrate.js';
import { OPENAPI_PATH } from './platform/paths.js';
import { SecretBox } from './platform/secretBox.js';
import { withTransaction } from './platform/transaction.js';
import { startWorkers } from './platform/workers.js';
import { gatewayWorkers } from './workers.js';

/** The workers' pool: four passes at most run at once, one per worker. */
const WORKERS_POOL_MAX = 4;
/** A worker's query may run long (a reconciliation over a year), but not for ever. */
const WORKERS_STATEMENT_TIMEOUT_MS = 300_000;

export interface RunningGateway {
  url: string;
  /** Names of the workers this process currently leads. */
  leading(): string[];
  /** Resolves once everything has stopped. */
  shutdown(reason: string): Promise<void>;
}

export interface StartGatewayParameters {
  config: Config;
  logger: Logger;
  /** Where the human-readable start-up lines go. */
  print: (line: string) => void;
}

/** A start-up failure whose message is enough on its own (no stack trace needed). */
export class StartupError extends Error {
  override name = 'StartupError';
}

/**
 * Starts the whole gateway. The caller owns the process: it wires signals to `shutdown`.
 */
export async function startGateway({ config, logger, print }: StartGatewayParameters): Promise<RunningGateway> {
  let devStack: DevStack | undefined;
  if (config.databaseUrl === undefined || config.rpcUrl === undefined) {
    // Dev-only code is loaded only when it is used, so production images do not need it.
    const { startDevStack } = await import('./dev/stack.js');
    devStack = await startDevStack(config, logger);
  }
  const databaseUrl = devStack?.databaseUrl ?? config.databaseUrl!;
  const rpcUrl = devStack?.rpcUrl ?? config.rpcUrl!;

  const tokenAddress = devStack?.chain?.tokenAddress ?? config.tokenAddress!;
  const acceptedTokens = devStack?.chain?.acceptedTokens ?? config.acceptedTokens ?? tokenAddress;
  const sanctionsOracle = config.sanctionsOracle ?? devStack?.chain?.sanctionsOracle;
  const factoryAddress = devStack?.chain?.factoryAddress ?? config.factoryAddress!;
  const jwtKey = resolveJwtKey(config, devStack);
  const secrets = resolveSecretBox(config, devStack);

  // Three pools, so that no kind of work can take the others' connections: the API's (short
  // queries, bounded by STATEMENT_TIMEOUT_MS), long reads' (statements and exports), the workers'.
  const pools = config.database;
  const db = createDb({
    connectionString: databaseUrl,
    poolMax: pools.apiPoolMax,
    statementTimeoutMs: pools.apiStatementTimeoutMs,
    applicationName: 'clinicpay-api',
  });
  const reportsDb = createDb({
    connectionString: databaseUrl,
    poolMax: pools.reportsPoolMax,
    statementTimeoutMs: pools.reportsStatementTimeoutMs,
    applicationName: 'clinicpay-reports',
  });
  const workersDb = createDb({
    connectionString: databaseUrl,
    poolMax: WORKERS_POOL_MAX,
    statementTimeoutMs: WORKERS_STATEMENT_TIMEOUT_MS,
    applicationName: 'clinicpay-workers',
  });
  const stopEverythingBelowHttp = async () => {
    await Promise.all([db.destroy(), reportsDb.destroy(), workersDb.destroy()]);
    await devStack?.stop();
  };

  const relayerKey = config.relayerPrivateKey ?? devStack?.chain?.relayer.private_key;
  // Its address is queued with anchors and watched in /metrics; only the relayer worker signs with it.
  const relayer = relayerKey ? privateKeyToAccount(relayerKey) : undefined;
  let server: http.Server;
  let listening: http.Server | undefined;
  let network: PaymentNetwork;
  let chain: ChainClient;
  const metrics = createMetrics();
  const finality = finalityFromConfig(config);
  // People sign in with the configured provider, or (outside production) with the dev stack's own, started once the API listens.
  let relyingParty = config.signIn.oidc ? new OidcRelyingParty(config.signIn.oidc) : undefined;
  let devIdentityProvider: DevIdentityProvider | undefined;
  try {
    const applied = await prepareDatabase({ db: workersDb, appUrl: databaseUrl, migrationUrl: devStack?.migrationDatabaseUrl ?? config.databaseMigrationUrl });
    if (applied.length > 0) logger.info({ migrations: applied }, 'migrations applied');
    const stillPending = await pendingMigrations(workersDb);
    if (stillPending.length > 0) throw new StartupError(`migrations ${stillPending.join(', ')} are not applied; run npx clinicpay migrate as the schema owner`);
    // A role that owns the tables could turn off the triggers that keep the ledger and the audit log honest.
    const roleProblems = await databaseRoleProblems(workersDb);
    if (roleProblems.length > 0) {
      const advice = 'connect DATABASE_URL as a least-privileged role and DATABASE_MIGRATION_URL as the schema owner (README: Production)';
      if (config.nodeEnv === 'production') throw new StartupError(`the database role is more than the gateway needs: ${roleProblems.join('; ')}; ${advice}`);
      logger.warn({ problems: roleProblems }, `the database role is more than the gateway needs; in production, ${advice}`);
    }
    // Before the API serves and the dispatcher signs: plain secrets (from before they were sealed) and ones under a retired key.
    const resealed = await sealWebhookSecrets(workersDb, secrets);
    if (resealed > 0) logger.info({ clinics: resealed }, 'webhook secrets sealed with the current SECRETS_KEYS key');

    chain = createChainClient({ rpcUrl, timeoutMs: config.rpcTimeoutMs, onRequest: (outcome) => metrics.rpc.request(outcome) });
    if (config.nodeEnv === 'production') {
      // doctor's money checks, each within seconds: never take a payment on the wrong chain, token or factory.
      const invoiceDecimals = ((await workersDb('invoices').distinct('token_decimals').pluck('token_decimals')) as number[]).map(Number);
      const failed = (
        await moneyChecks({
          chain,
          chainId: config.chainId,
          token: tokenAddress,
          acceptedTokens: config.acceptedTokens,
          factory: factoryAddress,
          invoiceDecimals,
        })
      ).filter((check) => !check.ok);
      if (failed.length > 0) throw new StartupError(`refusing to start: ${failed.map((check) => `${check.name}: ${check.detail}`).join('; ')}`);
    }
    try {
      network = await loadPaymentNetwork({
        chain,
        tokens: acceptedTokens,
        factory: factoryAddress,
        sanctionsOracle,
        // The dev stack places it at the canonical address, the default.
        multicall3: config.multicall3,
        timeoutMs: config.nodeEnv === 'production' ? 10_000 : 60_000,
      });
    } catch (error) {
      if (error instanceof TokenPinError) throw new StartupError(`refusing to start: ${error.message}`);
      throw error;
    }
    if (config.chainId !== undefined && network.chainId !== config.chainId) {
      throw new StartupError(`the RPC node serves chain ${network.chainId}, but CHAIN_ID is ${config.chainId}; point RPC_URL at the right chain`);
    }
    // Before the API takes its first invoice, so no payment can precede the watcher's start.
    if ((await readCursor(db, network.chainId)) === undefined) {
      await initCursor(db, network.chainId, config.watcherStartBlock ?? (await chain.getBlockNumber()));
    }
    const app = createApp({
      db,
      reportsDb,
      maxReportsAtOnce: pools.reportsPoolMax,
      streamStallTimeoutMs: config.streamStallTimeoutMs,
      chain,
      logger,
      metrics,
      openapiYaml: fs.readFileSync(OPENAPI_PATH, 'utf8'),
      bodyLimitBytes: config.bodyLimitBytes,
      readinessTimeoutMs: Math.min(config.rpcTimeoutMs, 3000),
      network,
      verifyToken: createJwtVerifier({ ...jwtKey, issuer: config.jwt.issuer, audience: config.jwt.audience, maxAgeSeconds: config.jwt.maxAgeSeconds }),
      jwtMaxAgeSeconds: config.jwt.maxAgeSeconds,
      finality,
      metricsToken: config.metricsToken,
      rateLimits: config.rateLimits,
      trustProxy: config.trustProxy,
      webhookUrls: config.webhooks,
      secrets,
      checkout: {
        publicUrl: config.publicUrl ?? (config.port === 0 ? undefined : httpUrl(config.host, config.port)),
        referenceRates: config.referenceRates,
        explorerTxUrl: config.explorerTxUrl,
        travelRuleThresholdHkd: config.travelRuleThresholdHkd,
      },
      otherPools: { workers: workersDb },
      apiKeyMode: config.nodeEnv === 'production' ? 'live' : 'test',
      relayerAddress: relayer?.address,
      signIn: {
        relyingParty: () => relyingParty,
        sessions: { idleMs: config.signIn.sessionIdleMinutes * 60_000, maxMs: config.signIn.sessionMaxHours * 3_600_000 },
      },
      allowTokenApprovals: config.signIn.allowTokenApprovals,
      production: config.nodeEnv === 'production',
      // The API only queues anchors; the relayer worker alone signs with the key.
      anchorer: config.anchorStatements && relayer ? { chainId: network.chainId, relayer: relayer.address } : undefined,
    });
    server = createHttpServer(app);
    await listen(server, config.host, config.port);
    listening = server;
    // Only once it is serving: a start that fails (a port in use, say) leaves no `gateway.started` row.
    await recordStart(db, config, network, applied);
  } catch (error) {
    const open = listening;
    if (open) await new Promise((resolve) => open.close(resolve));
    await stopEverythingBelowHttp().catch(() => undefined);
    throw error;
  }

  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = httpUrl(config.host, port);

  if (devStack?.chain) {
    const { ensureDemoClinic, devApiKeys, devTokens } = await import('./dev/demo.js');
    const demoClinicId = await ensureDemoClinic(db, devStack.chain.clinicWallet.address, secrets);
    const apiKeys = await devApiKeys(db, demoClinicId);
    let people: DevPerson[] = [];
    if (!relyingParty && config.nodeEnv !== 'production') {
      const started = await startDevSignIn({ config, logger, devStack, gatewayUrl: config.publicUrl ?? url, demoClinicId });
      devIdentityProvider = started.provider;
      relyingParty = started.relyingParty;
      people = started.people;
    }
    const file = writeDevStackFile(config.dataDir, {
      api_url: url,
      docs_url: `${url}/docs`,
      rpc_url: rpcUrl,
      database_url: databaseUrl,
      chain_id: network.chainId,
      token: { address: network.token.address, symbol: network.token.symbol, decimals: network.token.decimals },
      // Every accepted token (the pricing one first), with its issuer: the dev payers hold each.
      accepted_tokens: network.tokens,
      sanctions_oracle: network.sanctionsOracle,
      multicall3: network.multicall3,
      confirmations: config.confirmations,
      payers: devStack.chain.payers.map(({ address, private_key }) => ({ address, private_key })),
      factory_address: network.factory,
      demo_clinic_id: demoClinicId,
      clinic_wallet: { address: devStack.chain.clinicWallet.address, private_key: devStack.chain.clinicWallet.private_key },
      // Ready-made tokens only where the gateway verifies the dev secret's signatures.
      tokens:
        'key' in jwtKey && jwtKey.algorithm === 'HS256'
          ? devTokens({ secret: jwtKey.key, issuer: config.jwt.issuer, audience: config.jwt.audience, demoClinicId })
          : {},
      api_keys: apiKeys,
      people: people.map(({ role, clinic_id, sub, username, password }) => ({ role, clinic_id, sub, username, password })),
      identity_provider_url: devIdentityProvider?.issuer ?? null,
    });
    print(`ClinicPay is running (embedded dev stack)`);
    print(`  API   ${url}/v1`);
    print(`  Docs  ${url}/docs`);
    // Passkeys need a host name (browsers refuse an IP address as a WebAuthn relying party).
    const consoleUrl = `${config.publicUrl ?? url.replace('//127.0.0.1:', '//localhost:')}/console`;
    if (devIdentityProvider) print(`  Console  ${consoleUrl}  (sign in as a dev person: logins in dev-stack.json under "people")`);
    print(`  RPC   ${rpcUrl}  (chain ${network.chainId}, tokens ${network.tokens.map((token) => `${token.symbol} ${token.address}`).join(', ')})`);
    print(`  Dev credentials, tokens and keys: ${displayPath(file)}`);
    print(`Press Ctrl-C to stop.`);
  } else {
    print(`ClinicPay is running`);
    print(`  API   ${url}/v1`);
    print(`  Docs  ${url}/docs`);
  }

  const workers =
    config.runWorkers && relayer
      ? startWorkers(
          gatewayWorkers({
            db: workersDb,
            chain,
            logger,
            metrics,
            network,
            finality,
            relayer,
            relayerReplaceAfterMs: config.relayerReplaceAfterMs,
            paymentTolerance: config.paymentTolerance,
            flushBatchSize: config.flushBatchSize,
            watcherPollMs: config.watcherPollMs,
            reconIntervalMinutes: config.reconIntervalMinutes,
            reconFullSweepDays: config.reconFullSweepDays,
            webhookAllowedNetworks: config.webhooks.allowedNetworks,
            secrets,
          }),
          { connectionString: databaseUrl, logger, onFailure: (worker) => metrics.workers.failed(worker) },
        )
      : undefined;

  let stopping: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    stopping ??= (async () => {
      logger.info({ reason }, 'shutting down');
      await closeServer(server, config.shutdownTimeoutMs);
      await devIdentityProvider?.close();
      await workers?.stop();
      await stopEverythingBelowHttp();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { url, shutdown, leading: () => workers?.leading() ?? [] };
}

/**
 * The dev stack's sign-in: its own OpenID Connect provider (never in production) with one person
 * per role, passwords derived from the dev secrets (stable across restarts), on the port after
 * the gateway's when it is free, so the issuer, and the passkeys registered with it, stay the same.
 */
async function startDevSignIn(params: { config: Config; logger: Logger; devStack: DevStack; gatewayUrl: string; demoClinicId: string }) {
  const { config, logger, devStack, gatewayUrl, demoClinicId } = params;
  const { startDevIdentityProvider, devPeople } = await import('./dev/identityProvider.js');
  const passwordOf = (username: string) => createHmac('sha256', devStack.secrets.people_secret).update(username).digest('base64url').slice(0, 16);
  const people = devPeople(demoClinicId, passwordOf);
  // The browser may know the gateway as 127.0.0.1 or localhost: both may come back from sign-in.
  const bases = [...new Set([gatewayUrl, gatewayUrl.replace('//127.0.0.1:', '//localhost:')])];
  const client = {
    clientId: 'clinicpay-dev',
    clientSecret: randomBytes(24).toString('base64url'),
    redirectUris: bases.map((base) => `${base}/auth/callback`),
    postLogoutRedirectUris: bases.map((base) => `${base}/auth/signed-out`),
  };
  const start = (port: number) =>
    startDevIdentityProvider({ host: '127.0.0.1', port, nodeEnv: config.nodeEnv, people, client, cookieKeys: [devStack.secrets.idp_cookie_key], logger });
  const preferred = new URL(gatewayUrl).port === '' ? 0 : Number(new URL(gatewayUrl).port) + 1;
  const provider = await start(preferred).catch((error: unknown) => {
    if (preferred !== 0 && (error as NodeJS.ErrnoException).code === 'EADDRINUSE') return start(0);
    throw error;
  });
  const relyingParty = new OidcRelyingParty({
    issuer: provider.issuer,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    scopes: 'openid email profile clinicpay',
    roleClaim: 'clinicpay_role',
    clinicClaim: 'clinicpay_clinic_id',
  });
  logger.info({ issuer: provider.issuer }, 'dev identity provider started');
  return { provider, relyingParty, people };
}

/**
 * The keys API tokens are verified with: the identity provider's JWKS or a public key
 * (production), the configured HS256 secret, or the dev secret generated into DATA_DIR.
 */
export function resolveJwtKey(config: Config, devStack?: DevStack): JwtKey {
  if (config.jwt.jwksUrl !== undefined) return { jwksUrl: config.jwt.jwksUrl };
  if (config.jwt.publicKeyPem !== undefined) return { algorithm: jwtAlgorithmForKey(config.jwt.publicKeyPem), key: config.jwt.publicKeyPem };
  if (config.jwt.secret !== undefined) return { algorithm: 'HS256', key: config.jwt.secret };
  if (config.nodeEnv === 'production') throw new StartupError('JWT_PUBLIC_KEY or JWT_JWKS_URL is required in production');
  return { algorithm: 'HS256', key: (devStack?.secrets ?? loadOrCreateDevSecrets(config.dataDir)).jwt_secret };
}

/** The keys that seal secrets at rest: SECRETS_KEYS, or (outside production) the dev key generated into DATA_DIR. */
export function resolveSecretBox(config: Config, devStack?: DevStack): SecretBox {
  if (config.secretKeys !== undefined) return new SecretBox(config.secretKeys);
  if (config.nodeEnv === 'production') throw new StartupError('SECRETS_KEYS is required in production');
  const key = (devStack?.secrets ?? loadOrCreateDevSecrets(config.dataDir)).secrets_key;
  return new SecretBox([{ id: 'dev', key: Buffer.from(key, 'base64') }]);
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new StartupError(`port ${port} on ${host} is already in use; stop the other process or set PORT`));
      else if (error.code === 'EACCES') reject(new StartupError(`not allowed to listen on port ${port} on ${host}; set PORT to 1024 or above`));
      else if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') reject(new StartupError(`cannot listen on HOST ${host}: no such local address`));
      else reject(error);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Stops accepting connections, lets in-flight requests finish, then cuts whatever is left. */
export async function closeServer(server: http.Server, timeoutMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
  await closed;
  clearTimeout(timer);
}

function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') ? file : relative;
}

/** The audit record of a start: what this process settles with, and the migrations it applied (never a secret). */
async function recordStart(db: Db, config: Config, network: PaymentNetwork, migrations: readonly string[]): Promise<void> {
  await withTransaction(db, (trx) =>
    appendAudit(trx, SYSTEM.gateway, [
      {
        action: 'gateway.started',
        target: { type: 'gateway', id: `chain:${network.chainId}` },
        after: {
          node_env: config.nodeEnv,
          chain_id: network.chainId,
          token_address: network.token.address.toLowerCase(),
          token_decimals: network.token.decimals,
          factory_address: network.factory.toLowerCase(),
          confirmations: config.confirmations,
          use_finalized_tag: config.useFinalizedTag,
          payment_tolerance: config.paymentTolerance.toString(),
          anchor_statements: config.anchorStatements,
          migrations_applied: migrations.join(',') || null,
        },
      },
    ]),
  );
}

/** `http://host:port`, with an IPv6 host in brackets. */
function httpUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
