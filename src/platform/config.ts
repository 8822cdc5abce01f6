/**
 * The gateway's one configuration, read from the environment once and validated.
 *
 * Nothing else in the code base reads `process.env`: `main.ts` and the CLI call
 * {@link loadConfig} and pass the result down. Every variable is declared in
 * {@link CONFIG_VARIABLES}, which is also the source of the README's configuration table.
 */
import { createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import path from 'node:path';
import { type Address, getAddress, type Hex, isAddress } from 'viem';
import { parseSecretKeys, SecretBox, type SecretKey } from './secretBox.js';

export type NodeEnv = 'development' | 'test' | 'production';

/** One entry of the token allow-list, as the operator pins it. */
export interface AcceptedTokenConfig {
  address: Address;
  /** What `symbol()` must answer; the gateway refuses to start otherwise. */
  symbol: string;
  /** What `decimals()` must answer; the gateway refuses to start otherwise. */
  decimals: number;
  /** The licensed issuer, as the HKMA's register names it. */
  issuer: string;
  /** The issuer's licence number on the register. */
  licence: string;
  /** The currency the token is pegged to; only HKD is accepted. */
  peg: 'HKD';
  /**
   * How the issuer freezes addresses, when it does: the view that says whether an address is
   * frozen (`name(address) returns (bool)`) and the event it emits (`name(address indexed)`).
   */
  freeze?: { view: string; event: string } | undefined;
}
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  nodeEnv: NodeEnv;
  host: string;
  port: number;
  /** Unset means: start the embedded Postgres from `src/dev/`. */
  databaseUrl: string | undefined;
  /**
   * The schema owner's connection, for migrations and for granting the gateway's role what it
   * needs. Unset: migrations, if any are pending, run as DATABASE_URL's role.
   */
  databaseMigrationUrl: string | undefined;
  /** Unset means: start the embedded anvil chain from `src/dev/`. */
  rpcUrl: string | undefined;
  /** The chain the RPC node must serve; checked at start and by `/ready`. Unset: whatever it serves at start. */
  chainId: number | undefined;
  /** The ERC-20 stablecoin the gateway accepts; the dev stack deploys its own when unset. */
  tokenAddress: Address | undefined;
  /**
   * The allow-list (ACCEPTED_TOKENS): each accepted HKD stablecoin pinned to its symbol,
   * decimals and issuer, the first being the one invoices are priced in. Unset: TOKEN_ADDRESS
   * alone (described by the chain, not pinned), or the dev stack's tokens.
   */
  acceptedTokens: AcceptedTokenConfig[] | undefined;
  /** Years personal data is kept (at least 5) before `retention` erases it. */
  retentionYears: number;
  /** Invoices of at least this many HKD need the payer's travel-rule information before they can be paid. */
  travelRuleThresholdHkd: string;
  /** An on-chain sanctions oracle (`isSanctioned(address) returns (bool)`) every payer is also screened by; dev: the stack's test oracle. */
  sanctionsOracle: Address | undefined;
  /** Multicall3, through which reconciliation reads balances in batches; undefined: one `balanceOf` call each. */
  multicall3: Address | undefined;
  dataDir: string;
  logLevel: LogLevel;
  bodyLimitBytes: number;
  shutdownTimeoutMs: number;
  /** The database pools: the API's, and the long reads' (statements, exports), each with its statement timeout. */
  database: DatabasePools;
  /** How long a download may go unread before it is cut. */
  streamStallTimeoutMs: number;
  /** Blocks a transfer must be buried under before it counts as final. */
  confirmations: number;
  /** Seconds between blocks on the embedded dev chain. */
  devBlockTimeSeconds: number;
  rpcTimeoutMs: number;
  /** The DepositFactory; the dev stack deploys its own when unset. */
  factoryAddress: Address | undefined;
  jwt: JwtConfig;
  /** Keys that seal secrets at rest (clinics' webhook secrets), the first sealing; unset outside production: a dev key in DATA_DIR. */
  secretKeys: SecretKey[] | undefined;
  /** Pays the relayer's gas; in development a funded dev account. */
  relayerPrivateKey: Hex | undefined;
  /** Base units by which a payment may miss the amount due and still count as exact. */
  paymentTolerance: bigint;
  useFinalizedTag: boolean;
  /** Whether statements' Merkle roots may be anchored on the chain (POST /v1/statements/{id}/anchor). */
  anchorStatements: boolean;
  /** Where the watcher starts on a database that has no cursor yet; unset: the head at first start. */
  watcherStartBlock: bigint | undefined;
  watcherPollMs: number;
  maxBlockRange: number;
  flushBatchSize: number;
  /** How long a relayer transaction may wait to be mined before it is replaced with higher fees. */
  relayerReplaceAfterMs: number;
  /** Whether this process runs the background workers (they elect one leader per worker anyway). */
  runWorkers: boolean;
  /** Minutes between scheduled reconciliation runs; 0 runs them only on demand. */
  reconIntervalMinutes: number;
  /** Days between full sweeps (a scheduled run that compares every deposit address); 0: never scheduled. */
  reconFullSweepDays: number;
  /** Base URL patients reach the gateway at (checkout links); unset: the URL it listens on. */
  publicUrl: string | undefined;
  /** Indicative rates shown next to HKD on the checkout page; undefined when not configured. */
  referenceRates: ReferenceRates | undefined;
  /** Block-explorer transaction URL with `{tx}` for the hash, for receipts; undefined: no link. */
  explorerTxUrl: string | undefined;
  /** Bearer token `GET /metrics` requires; undefined: metrics are open. */
  metricsToken: string | undefined;
  /** Where clinics' webhooks may go. */
  webhooks: { requireHttps: boolean; allowedNetworks: readonly string[] };
  /** Requests per window; 0 turns a limit off. */
  rateLimits: { publicPerMinute: number; expensivePerMinute: number; anchorsPerHour: number; failedAuthPerMinute: number; signInPerMinute: number };
  /** How people sign in, how long their sessions last, and what tokens may approve. */
  signIn: SignInConfig;
  /** Which proxies' X-Forwarded-For is believed: a hop count, or addresses and ranges; undefined: none. */
  trustProxy: number | readonly string[] | undefined;
}

export interface SignInConfig {
  /** The production identity provider; undefined: the dev stack's own (outside production) or no sign-in. */
  oidc: OidcConfig | undefined;
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  /** Whether approvals, webhook-secret rotation and API-key handling may be done by token, without a person's passkey. */
  allowTokenApprovals: boolean;
}

export interface OidcConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes to ask for; `openid` is always among them. */
  scopes: string;
  /** The ID-token claim that carries a person's role; undefined: roles come from memberships. */
  roleClaim: string | undefined;
  /** The claim with the person's clinic id (for clinic roles). */
  clinicClaim: string | undefined;
}

export interface DatabasePools {
  apiPoolMax: number;
  apiStatementTimeoutMs: number;
  reportsPoolMax: number;
  reportsStatementTimeoutMs: number;
}

/** Indicative exchange rates: units of each currency one HKD buys, where they came from and when. */
export interface ReferenceRates {
  rates: Readonly<Record<string, string>>;
  source: string;
  asOf: Date;
}

export interface JwtConfig {
  issuer: string;
  audience: string;
  /** HS256 shared secret (development). In development without one, a generated secret from DATA_DIR is used. */
  secret: string | undefined;
  /** PEM public key (RS256 or ES256, by key type); in production this or `jwksUrl`. */
  publicKeyPem: string | undefined;
  /** The identity provider's JWKS URL: keys by `kid`, rotated without a restart. */
  jwksUrl: string | undefined;
  /** Tokens issued longer ago than this are refused, whatever their expiry. */
  maxAgeSeconds: number;
}

/** A configuration value that cannot be used; its message names the variable and what was expected. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly expected: string,
    readonly received: string | undefined,
  ) {
    super(
      received === undefined
        ? `${variable} is required: expected ${expected}`
        : `${variable} is invalid: expected ${expected}, got ${JSON.stringify(redactUrlCredentials(received))}`,
    );
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Where Multicall3 is on most EVM chains: it was deployed from one keyless transaction, so it has
 * the same address wherever that transaction was sent (the dev stack places it there too).
 */
export const CANONICAL_MULTICALL3: Address = '0xcA11bde05977b3631167028862bE2a173976CA11';

interface VariableSpec {
  name: string;
  default: string;
  meaning: string;
}

/** Every environment variable the gateway reads, with its default and meaning (README table). */
export const CONFIG_VARIABLES: readonly VariableSpec[] = [
  {
    name: 'NODE_ENV',
    default: 'development',
    meaning:
      '`development`, `test` or `production`. Production requires `DATABASE_URL`, `RPC_URL`, `CHAIN_ID`, `ACCEPTED_TOKENS` (or `TOKEN_ADDRESS`), `FACTORY_ADDRESS`, `RELAYER_PRIVATE_KEY`, `JWT_PUBLIC_KEY` or `JWT_JWKS_URL`, `SECRETS_KEYS` and `PUBLIC_URL`, and never starts the embedded stack.',
  },
  { name: 'HOST', default: '127.0.0.1', meaning: 'Interface the HTTP API listens on (the Docker image sets `0.0.0.0`).' },
  { name: 'PORT', default: '3000', meaning: 'HTTP port, 0–65535 (0 picks a free port).' },
  {
    name: 'DATABASE_URL',
    default: '(embedded Postgres)',
    meaning:
      "`postgres://` URL of the database, as the gateway's least-privileged role (rows only: no ALTER, TRUNCATE or trigger changes). Unset: an embedded PostgreSQL is started with its data in `DATA_DIR`, with an owner role and an app role.",
  },
  {
    name: 'DATABASE_MIGRATION_URL',
    default: '(none)',
    meaning:
      "`postgres://` URL of the same database as the role that owns the schema: migrations run as it, then it grants `DATABASE_URL`'s role what the gateway needs. Unset: pending migrations run as `DATABASE_URL`'s role. In production the gateway refuses to start when `DATABASE_URL`'s role owns the tables or may alter, truncate or rewrite them.",
  },
  {
    name: 'RPC_URL',
    default: '(embedded anvil)',
    meaning: '`http(s)://` JSON-RPC URL of the EVM node. Unset: an embedded anvil chain is started with its state in `DATA_DIR`.',
  },
  {
    name: 'CHAIN_ID',
    default: "(the node's)",
    meaning:
      'The chain the RPC node must serve (e.g. 1 for Ethereum): the gateway refuses to start on another, and `/ready` answers 503 if the node changes chains.',
  },
  {
    name: 'TOKEN_ADDRESS',
    default: '(dev token)',
    meaning:
      'Address of the HKD stablecoin (ERC-20) invoices are priced in, described by the chain and not pinned. Prefer `ACCEPTED_TOKENS`; set with it, it must be its first entry. Unset in development: the dev stack deploys its test tokens.',
  },
  {
    name: 'ACCEPTED_TOKENS',
    default: '(`TOKEN_ADDRESS` alone; dev: both test tokens)',
    meaning:
      'The allow-list of HKD stablecoins, as JSON: `[{"address","symbol","decimals","issuer","licence","peg":"HKD","freeze"?}, …]`, at most 20, the first being the one invoices are priced in. At start each must have code and answer `symbol()` and `decimals()` as pinned, or the gateway refuses to start. Transfers of any other token are never credited. `freeze` {`view`, `event`} names how the issuer freezes addresses (e.g. `isFrozen`, `Frozen`): frozen deposit addresses and clinic wallets are then watched.',
  },
  {
    name: 'RETENTION_YEARS',
    default: '5',
    meaning:
      'Years personal data is kept before `npx clinicpay retention` erases it (travel-rule records by destroying their key; patient references in stored webhook payloads), 5–100: records are kept at least five years, so anything lower is refused. Nothing financial is ever deleted.',
  },
  {
    name: 'TRAVEL_RULE_THRESHOLD_HKD',
    default: '8000',
    meaning:
      "Invoices of at least this many HKD (the HKMA guideline's HK$8,000) show no deposit address until the payer has given their travel-rule information on the payment page and proven their wallet with a signature. `0`: every invoice.",
  },
  {
    name: 'SANCTIONS_ORACLE_ADDRESS',
    default: '(none; dev: a test oracle)',
    meaning:
      "An on-chain sanctions oracle with Chainalysis's interface, `isSanctioned(address) returns (bool)`. Every payer is also asked about at the payment's block; a yes holds the payment like a list match, and no answer holds it pending screening until the oracle answers. Checked at start.",
  },
  {
    name: 'MULTICALL3_ADDRESS',
    default: CANONICAL_MULTICALL3,
    meaning:
      "Multicall3 on this chain (its canonical address on most EVM chains): reconciliation reads the balances of deposit addresses and clinics' wallets through its `aggregate3`, hundreds to a call, at the run's last block. Where it has no code at that block, or the call fails, the run reads them one `balanceOf` call each (slower, same result) and says so in its counts. `none`: always one by one.",
  },
  { name: 'FACTORY_ADDRESS', default: '(dev factory)', meaning: 'Address of the DepositFactory contract. Unset in development: the dev stack deploys one.' },
  { name: 'CONFIRMATIONS', default: '3 (dev chain), 12 otherwise', meaning: 'Blocks on top of a transfer before it is final, 1–1000.' },
  { name: 'DATA_DIR', default: '.data', meaning: 'Where the embedded stack keeps its data, generated dev secrets and `dev-stack.json`.' },
  { name: 'LOG_LEVEL', default: 'info', meaning: 'One of fatal, error, warn, info, debug, trace, silent.' },
  { name: 'BODY_LIMIT_BYTES', default: '102400', meaning: 'Largest accepted JSON request body; larger bodies get 413.' },
  { name: 'SHUTDOWN_TIMEOUT_MS', default: '10000', meaning: 'How long a graceful shutdown waits for in-flight requests.' },
  {
    name: 'DATABASE_POOL_MAX',
    default: '10',
    meaning: "Connections of the API's database pool, 1–100. Statements and exports have a pool of their own, and the workers another (4).",
  },
  {
    name: 'STATEMENT_TIMEOUT_MS',
    default: '15000',
    meaning: 'Longest an API query may run (Postgres `statement_timeout`), 100–600000; a request over it answers 500 and holds nothing.',
  },
  {
    name: 'REPORTS_POOL_MAX',
    default: '4',
    meaning: 'Connections for statements and exports, 1–50: as many of them stream at once, at most two per caller; more answer 429.',
  },
  { name: 'REPORT_STATEMENT_TIMEOUT_MS', default: '120000', meaning: 'Longest one query of a statement or export may run, 1000–3600000.' },
  {
    name: 'STREAM_STALL_TIMEOUT_MS',
    default: '60000',
    meaning: 'How long a download may go unread by its client before it is cut and its connection returned, 1000–600000.',
  },
  { name: 'RPC_TIMEOUT_MS', default: '5000', meaning: 'Timeout of one JSON-RPC call.' },
  {
    name: 'RELAYER_PRIVATE_KEY',
    default: '(dev account)',
    meaning: '0x-prefixed 32-byte key of the relayer account that pays gas for flushes (it never holds customer funds). Required when RPC_URL is set.',
  },
  { name: 'PAYMENT_TOLERANCE', default: '0', meaning: 'Token base units by which a payment may miss the amount due and still count as exact.' },
  {
    name: 'USE_FINALIZED_TAG',
    default: 'false',
    meaning: '`true`: a transfer is final when the node reports its block `finalized`, instead of counting CONFIRMATIONS.',
  },
  { name: 'WATCHER_START_BLOCK', default: '(head at first start)', meaning: 'Block the chain watcher starts from on a database that has no cursor yet.' },
  { name: 'WATCHER_POLL_MS', default: '1000', meaning: 'Pause of the chain watcher when it has caught up, 100–60000.' },
  { name: 'MAX_BLOCK_RANGE', default: '2000', meaning: 'Widest eth_getLogs range per call (halved when the node refuses), 1–100000.' },
  { name: 'FLUSH_BATCH_SIZE', default: '50', meaning: 'Deposit addresses per flushMany transaction, 1–100.' },
  {
    name: 'RELAYER_REPLACE_AFTER_SECONDS',
    default: '120',
    meaning:
      'Seconds a relayer transaction (a flush or an anchor) may wait to be mined before it is sent again at the same nonce with fees at least 12.5 % higher, 5–3600.',
  },
  { name: 'RECON_INTERVAL_MINUTES', default: '60', meaning: 'Minutes between scheduled reconciliation runs, 0–10080 (0: on demand only).' },
  {
    name: 'RECON_FULL_SWEEP_DAYS',
    default: '7',
    meaning:
      'Days between full sweeps, 0–365: the first scheduled run after that many days compares the balance of every deposit address, not only those its range touched or the ledger says hold tokens (0: only when finance asks, `full_sweep: true`).',
  },
  {
    name: 'ANCHOR_STATEMENTS',
    default: 'false',
    meaning:
      "`true` lets auditors and finance anchor a statement's Merkle root on the chain: the relayer sends itself a transaction carrying the root (it pays the gas).",
  },
  {
    name: 'PUBLIC_URL',
    default: '(the listening URL)',
    meaning:
      "Base URL (http or https, no path) at which patients reach the gateway; every invoice's `checkout_url` is built on it. Required in production (the listening address, `0.0.0.0` in the image, is no address for a patient).",
  },
  {
    name: 'REFERENCE_RATES',
    default: '(none)',
    meaning:
      'Indicative rates for the checkout page, e.g. `CNY=0.9213,USD=0.1285` (units per 1 HKD; CNY and USD). Stored on each new invoice with their source and time.',
  },
  { name: 'REFERENCE_RATES_SOURCE', default: 'configured', meaning: 'Name of where REFERENCE_RATES come from, shown to patients with the rate.' },
  { name: 'REFERENCE_RATES_AS_OF', default: '(gateway start)', meaning: 'ISO 8601 time the REFERENCE_RATES were taken.' },
  {
    name: 'EXPLORER_TX_URL',
    default: '(none)',
    meaning: 'Block-explorer link for receipts, with `{tx}` where the transaction hash goes, e.g. `https://etherscan.io/tx/{tx}`.',
  },
  {
    name: 'METRICS_TOKEN',
    default: '(none)',
    meaning:
      'When set (16 or more characters), `GET /metrics` answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is open. Set it wherever the gateway is reachable from outside.',
  },
  {
    name: 'WEBHOOK_REQUIRE_HTTPS',
    default: 'true in production, false otherwise',
    meaning: "`true`: clinics' webhook URLs must be https.",
  },
  {
    name: 'WEBHOOK_ALLOWED_NETWORKS',
    default: '127.0.0.0/8,::1 outside production; none in production',
    meaning:
      'Comma-separated addresses or CIDR ranges webhooks may be sent to although they are not public (loopback, private, link-local). Every other such address is refused, also when a host name resolves to it.',
  },
  {
    name: 'RATE_LIMIT_PUBLIC_PER_MINUTE',
    default: '300',
    meaning: 'Requests per minute per client address to what answers without a token: checkout pages, `/ready`, `/problems`, unknown paths. 0: no limit.',
  },
  {
    name: 'RATE_LIMIT_EXPENSIVE_PER_MINUTE',
    default: '30',
    meaning: 'Requests per minute per caller to statements, exports, reconciliation runs and audit-log verification. 0: no limit.',
  },
  { name: 'RATE_LIMIT_ANCHORS_PER_HOUR', default: '10', meaning: "Statement anchors per hour per caller (each spends the relayer's gas). 0: no limit." },
  {
    name: 'RATE_LIMIT_FAILED_AUTH_PER_MINUTE',
    default: '30',
    meaning:
      'Refused bearer tokens and API keys per client address per minute; past it, that address gets 429 until the minute is over, whatever it sends. 0: no limit.',
  },
  {
    name: 'RATE_LIMIT_SIGN_IN_PER_MINUTE',
    default: '20',
    meaning:
      'Sign-in starts, callbacks and passkey ceremonies per client address per minute, and failed sign-ins or passkey confirmations per person per minute. 0: no limit.',
  },
  {
    name: 'OIDC_ISSUER',
    default: '(dev provider)',
    meaning:
      'Issuer URL of the OpenID Connect provider people sign in with (Entra ID, Google Workspace, Keycloak, …); https in production. Unset: outside production the dev stack runs its own; in production nobody can sign in (the API still takes tokens and keys).',
  },
  { name: 'OIDC_CLIENT_ID', default: '(none)', meaning: "ClinicPay's client id at the provider; required with OIDC_ISSUER." },
  {
    name: 'OIDC_CLIENT_SECRET',
    default: '(none)',
    meaning:
      'Its client secret; required with OIDC_ISSUER. Register `<PUBLIC_URL>/auth/callback` as redirect URI and `<PUBLIC_URL>/auth/signed-out` as post-logout URI.',
  },
  { name: 'OIDC_SCOPES', default: 'openid email profile', meaning: 'Scopes asked for at sign-in (`openid` is always added).' },
  {
    name: 'OIDC_ROLE_CLAIM',
    default: '(memberships)',
    meaning:
      'ID-token claim with the person’s ClinicPay role (a string or a list, e.g. Entra ID `roles`). Unset, or absent from a token: the role comes from the memberships a platform admin keeps (`/v1/memberships`).',
  },
  { name: 'OIDC_CLINIC_CLAIM', default: '(none)', meaning: 'ID-token claim with the person’s clinic id, for clinic roles given by OIDC_ROLE_CLAIM.' },
  { name: 'SESSION_IDLE_MINUTES', default: '30', meaning: 'A signed-in session unused this long ends, 1–1440.' },
  { name: 'SESSION_MAX_HOURS', default: '12', meaning: 'A session ends this long after sign-in however busy, 1–168.' },
  {
    name: 'ALLOW_TOKEN_APPROVALS',
    default: 'true, false in production',
    meaning:
      'Whether approving refunds, write-offs and settlement-address changes, rotating webhook secrets and creating or revoking API keys may be done with a bearer token or API key. `false`: only a signed-in person who has just confirmed with a passkey. Audit rows say which.',
  },
  {
    name: 'TRUST_PROXY',
    default: '(none)',
    meaning:
      'Proxies whose `X-Forwarded-For` names the client (for rate limits by address): a hop count such as `1`, or comma-separated addresses and CIDR ranges of the load balancers. Unset: the connecting address is the client.',
  },
  { name: 'RUN_WORKERS', default: 'true', meaning: '`false` runs the HTTP API only (no watcher, flusher or webhook dispatcher in this process).' },
  { name: 'JWT_ISSUER', default: 'clinicpay', meaning: 'Required `iss` claim of API tokens.' },
  { name: 'JWT_AUDIENCE', default: 'clinicpay-api', meaning: 'Required `aud` claim of API tokens.' },
  {
    name: 'JWT_PUBLIC_KEY',
    default: '(none)',
    meaning:
      'PEM public key that verifies API tokens: RS256 for an RSA key, ES256 for a P-256 key. In production this or JWT_JWKS_URL is required, and HS256 is refused.',
  },
  {
    name: 'JWT_JWKS_URL',
    default: '(none)',
    meaning:
      "URL of the identity provider's JWKS: RS256 and ES256 keys chosen by each token's `kid`, fetched again (at most every 30 s) when an unknown `kid` arrives, so keys rotate without a restart. https in production.",
  },
  {
    name: 'JWT_MAX_AGE_SECONDS',
    default: '86400',
    meaning: 'Tokens must carry `iat` and are refused once issued longer ago than this (60 s to 30 days), whatever their `exp`.',
  },
  {
    name: 'SECRETS_KEYS',
    default: '(generated in DATA_DIR)',
    meaning:
      "Keys that encrypt clinics' webhook secrets at rest (AES-256-GCM): `id:base64` of 32 random bytes, comma-separated; the first encrypts, every one listed decrypts, so a new key goes first and an old one stays until the gateway has re-encrypted with the new one at start. Required in production.",
  },
  {
    name: 'JWT_SECRET',
    default: '(generated in DATA_DIR)',
    meaning: 'HS256 secret (at least 32 characters) for development tokens. Unset: generated on first start into `DATA_DIR/secrets.json`.',
  },
  { name: 'DEV_BLOCK_TIME_SECONDS', default: '2', meaning: 'Seconds between blocks on the embedded dev chain, 1–60.' },
];

const NODE_ENVS: readonly NodeEnv[] = ['development', 'test', 'production'];
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Parses and validates the environment. Throws {@link ConfigError} on the first bad value.
 *
 * @example
 * const config = loadConfig(process.env, process.cwd());
 */
export function loadConfig(env: Env, cwd: string): Config {
  const nodeEnv = oneOf(env, 'NODE_ENV', NODE_ENVS, 'development');
  const databaseUrl = optionalUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']);
  const databaseMigrationUrl = optionalUrl(env, 'DATABASE_MIGRATION_URL', ['postgres:', 'postgresql:']);
  if (databaseMigrationUrl !== undefined && databaseUrl === undefined) {
    throw new ConfigError('DATABASE_MIGRATION_URL', 'set only together with DATABASE_URL', '(set)');
  }
  const rpcUrl = optionalUrl(env, 'RPC_URL', ['http:', 'https:']);
  const tokenAddress = optionalAddress(env, 'TOKEN_ADDRESS');
  const acceptedTokens = acceptedTokenList(env, 'ACCEPTED_TOKENS');
  if (nodeEnv === 'production') {
    if (databaseUrl === undefined) throw new ConfigError('DATABASE_URL', 'a postgres:// URL (required when NODE_ENV=production)', undefined);
    if (rpcUrl === undefined) throw new ConfigError('RPC_URL', 'an http(s):// URL (required when NODE_ENV=production)', undefined);
    if (tokenAddress === undefined && acceptedTokens === undefined) {
      throw new ConfigError('ACCEPTED_TOKENS', 'the token allow-list, or TOKEN_ADDRESS (one is required when NODE_ENV=production)', undefined);
    }
  }
  if (acceptedTokens !== undefined && tokenAddress !== undefined && acceptedTokens[0]!.address !== tokenAddress) {
    throw new ConfigError('TOKEN_ADDRESS', 'unset, or the first entry of ACCEPTED_TOKENS (the token invoices are priced in)', tokenAddress);
  }
  const factoryAddress = optionalAddress(env, 'FACTORY_ADDRESS');
  if (rpcUrl !== undefined && tokenAddress === undefined && acceptedTokens === undefined) {
    throw new ConfigError('TOKEN_ADDRESS', 'a 0x address, or ACCEPTED_TOKENS (one is required when RPC_URL is set)', undefined);
  }
  if (rpcUrl !== undefined && factoryAddress === undefined) {
    throw new ConfigError('FACTORY_ADDRESS', 'a 0x address (required when RPC_URL is set)', undefined);
  }
  const jwt = jwtConfig(env, nodeEnv);
  const secretKeys = secretKeyList(env, 'SECRETS_KEYS');
  if (nodeEnv === 'production' && secretKeys === undefined) {
    throw new ConfigError('SECRETS_KEYS', 'id:base64 of 32 bytes, comma-separated (required when NODE_ENV=production)', undefined);
  }
  const relayerPrivateKey = optionalPrivateKey(env, 'RELAYER_PRIVATE_KEY');
  if (rpcUrl !== undefined && relayerPrivateKey === undefined) {
    throw new ConfigError('RELAYER_PRIVATE_KEY', 'a 0x-prefixed 32-byte hex key (required when RPC_URL is set)', undefined);
  }
  const usesDevChain = rpcUrl === undefined;
  return {
    nodeEnv,
    host: hostName(env, 'HOST', '127.0.0.1'),
    port: integer(env, 'PORT', 3000, 0, 65535),
    databaseUrl,
    databaseMigrationUrl,
    rpcUrl,
    chainId: optionalInteger(env, 'CHAIN_ID', 1, Number.MAX_SAFE_INTEGER),
    tokenAddress: tokenAddress ?? acceptedTokens?.[0]?.address,
    acceptedTokens,
    sanctionsOracle: optionalAddress(env, 'SANCTIONS_ORACLE_ADDRESS'),
    multicall3: addressOrNone(env, 'MULTICALL3_ADDRESS', CANONICAL_MULTICALL3),
    travelRuleThresholdHkd: hkdAmount(env, 'TRAVEL_RULE_THRESHOLD_HKD', '8000'),
    retentionYears: integer(env, 'RETENTION_YEARS', 5, 5, 100),
    dataDir: path.resolve(cwd, nonEmpty(env, 'DATA_DIR', '.data')),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    bodyLimitBytes: integer(env, 'BODY_LIMIT_BYTES', 100 * 1024, 1024, 10 * 1024 * 1024),
    shutdownTimeoutMs: integer(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 100, 300_000),
    database: {
      apiPoolMax: integer(env, 'DATABASE_POOL_MAX', 10, 1, 100),
      apiStatementTimeoutMs: integer(env, 'STATEMENT_TIMEOUT_MS', 15_000, 100, 600_000),
      reportsPoolMax: integer(env, 'REPORTS_POOL_MAX', 4, 1, 50),
      reportsStatementTimeoutMs: integer(env, 'REPORT_STATEMENT_TIMEOUT_MS', 120_000, 1000, 3_600_000),
    },
    streamStallTimeoutMs: integer(env, 'STREAM_STALL_TIMEOUT_MS', 60_000, 1000, 600_000),
    confirmations: integer(env, 'CONFIRMATIONS', usesDevChain ? 3 : 12, 1, 1000),
    devBlockTimeSeconds: integer(env, 'DEV_BLOCK_TIME_SECONDS', 2, 1, 60),
    rpcTimeoutMs: integer(env, 'RPC_TIMEOUT_MS', 5000, 100, 120_000),
    factoryAddress,
    jwt,
    secretKeys,
    relayerPrivateKey,
    paymentTolerance: BigInt(integer(env, 'PAYMENT_TOLERANCE', 0, 0, Number.MAX_SAFE_INTEGER)),
    useFinalizedTag: boolean(env, 'USE_FINALIZED_TAG', false),
    watcherStartBlock: optionalBlock(env, 'WATCHER_START_BLOCK'),
    watcherPollMs: integer(env, 'WATCHER_POLL_MS', 1000, 100, 60_000),
    maxBlockRange: integer(env, 'MAX_BLOCK_RANGE', 2000, 1, 100_000),
    flushBatchSize: integer(env, 'FLUSH_BATCH_SIZE', 50, 1, 100),
    relayerReplaceAfterMs: integer(env, 'RELAYER_REPLACE_AFTER_SECONDS', 120, 5, 3600) * 1000,
    runWorkers: boolean(env, 'RUN_WORKERS', true),
    anchorStatements: boolean(env, 'ANCHOR_STATEMENTS', false),
    reconIntervalMinutes: integer(env, 'RECON_INTERVAL_MINUTES', 60, 0, 10_080),
    reconFullSweepDays: integer(env, 'RECON_FULL_SWEEP_DAYS', 7, 0, 365),
    publicUrl: requiredInProduction(optionalBaseUrl(env, 'PUBLIC_URL'), nodeEnv, 'PUBLIC_URL', 'the https:// base URL patients reach the gateway at'),
    referenceRates: referenceRates(env),
    explorerTxUrl: optionalExplorerUrl(env, 'EXPLORER_TX_URL'),
    metricsToken: optionalSecret(env, 'METRICS_TOKEN', 16),
    webhooks: {
      requireHttps: boolean(env, 'WEBHOOK_REQUIRE_HTTPS', nodeEnv === 'production'),
      allowedNetworks: networkList(env, 'WEBHOOK_ALLOWED_NETWORKS', nodeEnv === 'production' ? [] : ['127.0.0.0/8', '::1']),
    },
    rateLimits: {
      publicPerMinute: integer(env, 'RATE_LIMIT_PUBLIC_PER_MINUTE', 300, 0, 1_000_000),
      expensivePerMinute: integer(env, 'RATE_LIMIT_EXPENSIVE_PER_MINUTE', 30, 0, 1_000_000),
      anchorsPerHour: integer(env, 'RATE_LIMIT_ANCHORS_PER_HOUR', 10, 0, 1_000_000),
      failedAuthPerMinute: integer(env, 'RATE_LIMIT_FAILED_AUTH_PER_MINUTE', 30, 0, 1_000_000),
      signInPerMinute: integer(env, 'RATE_LIMIT_SIGN_IN_PER_MINUTE', 20, 0, 1_000_000),
    },
    signIn: {
      oidc: oidcConfig(env, nodeEnv),
      sessionIdleMinutes: integer(env, 'SESSION_IDLE_MINUTES', 30, 1, 1440),
      sessionMaxHours: integer(env, 'SESSION_MAX_HOURS', 12, 1, 168),
      allowTokenApprovals: boolean(env, 'ALLOW_TOKEN_APPROVALS', nodeEnv !== 'production'),
    },
    trustProxy: trustProxy(env, 'TRUST_PROXY'),
  };
}

function oidcConfig(env: Env, nodeEnv: NodeEnv): OidcConfig | undefined {
  const issuer = optionalUrl(env, 'OIDC_ISSUER', nodeEnv === 'production' ? ['https:'] : ['http:', 'https:']);
  const clientId = raw(env, 'OIDC_CLIENT_ID');
  const clientSecret = raw(env, 'OIDC_CLIENT_SECRET');
  if (issuer === undefined) {
    if (clientId !== undefined) throw new ConfigError('OIDC_CLIENT_ID', 'set only together with OIDC_ISSUER', clientId);
    if (clientSecret !== undefined) throw new ConfigError('OIDC_CLIENT_SECRET', 'set only together with OIDC_ISSUER', '[hidden]');
    return undefined;
  }
  if (clientId === undefined) throw new ConfigError('OIDC_CLIENT_ID', 'the client id registered at the provider (required with OIDC_ISSUER)', undefined);
  if (clientSecret === undefined) throw new ConfigError('OIDC_CLIENT_SECRET', 'the client secret from the provider (required with OIDC_ISSUER)', undefined);
  const claim = (name: string) => {
    const value = raw(env, name);
    if (value !== undefined && !/^[A-Za-z0-9_:/.-]{1,200}$/.test(value)) throw new ConfigError(name, 'a claim name (letters, digits, _ : / . -)', value);
    return value;
  };
  return {
    issuer,
    clientId,
    clientSecret,
    scopes: nonEmpty(env, 'OIDC_SCOPES', 'openid email profile'),
    roleClaim: claim('OIDC_ROLE_CLAIM'),
    clinicClaim: claim('OIDC_CLINIC_CLAIM'),
  };
}

function optionalBaseUrl(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, 'an http(s) URL such as https://pay.example.hk', value);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username || url.password) {
    throw new ConfigError(name, 'an http(s) URL without query, fragment or credentials', value);
  }
  return url.toString().replace(/\/$/, '');
}

function optionalExplorerUrl(env: Env, name: string): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  if (!/^https?:\/\/[^\s]+$/.test(value) || !value.includes('{tx}')) throw new ConfigError(name, 'an http(s) URL containing {tx}', value);
  return value;
}

const REFERENCE_CURRENCIES = ['CNY', 'USD'];

function referenceRates(env: Env): ReferenceRates | undefined {
  const value = raw(env, 'REFERENCE_RATES');
  const source = nonEmpty(env, 'REFERENCE_RATES_SOURCE', 'configured');
  const asOfText = raw(env, 'REFERENCE_RATES_AS_OF');
  const asOf = asOfText === undefined ? new Date() : new Date(asOfText);
  if (Number.isNaN(asOf.getTime())) throw new ConfigError('REFERENCE_RATES_AS_OF', 'an ISO 8601 time', asOfText);
  if (value === undefined) return undefined;
  const rates: Record<string, string> = {};
  for (const pair of value.split(',')) {
    const match = /^(CNY|USD)=(\d{1,6}(\.\d{1,10})?)$/.exec(pair.trim());
    if (!match || /^0+(\.0+)?$/.test(match[2]!) || rates[match[1]!] !== undefined) {
      throw new ConfigError('REFERENCE_RATES', `CODE=rate pairs for ${REFERENCE_CURRENCIES.join(' and ')}, e.g. CNY=0.9213,USD=0.1285`, value);
    }
    rates[match[1]!] = match[2]!;
  }
  return { rates, source, asOf };
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(name, 'true or false', value);
}

function optionalBlock(env: Env, name: string): bigint | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  if (!/^\d{1,18}$/.test(value)) throw new ConfigError(name, 'a block number', value);
  return BigInt(value);
}

function optionalPrivateKey(env: Env, name: string): Hex | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  // The value itself is never echoed: it is a key.
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) throw new ConfigError(name, 'a 0x-prefixed 32-byte hex key', '[hidden]');
  return value as Hex;
}

function jwtConfig(env: Env, nodeEnv: NodeEnv): JwtConfig {
  const secret = raw(env, 'JWT_SECRET');
  if (secret !== undefined && secret.length < 32) throw new ConfigError('JWT_SECRET', 'at least 32 characters', '[hidden]');
  const pem = raw(env, 'JWT_PUBLIC_KEY')?.replaceAll('\\n', '\n');
  if (pem !== undefined) {
    try {
      jwtAlgorithmForKey(pem);
    } catch {
      throw new ConfigError('JWT_PUBLIC_KEY', 'a PEM RSA or P-256 EC public key', pem.slice(0, 40));
    }
  }
  const jwksUrl = optionalUrl(env, 'JWT_JWKS_URL', nodeEnv === 'production' ? ['https:'] : ['http:', 'https:']);
  if (pem !== undefined && jwksUrl !== undefined) throw new ConfigError('JWT_JWKS_URL', 'unset when JWT_PUBLIC_KEY is set (one source of keys)', jwksUrl);
  if (nodeEnv === 'production' && pem === undefined && jwksUrl === undefined) {
    throw new ConfigError('JWT_PUBLIC_KEY', 'a PEM RSA or P-256 EC public key, or JWT_JWKS_URL (one is required when NODE_ENV=production)', undefined);
  }
  if (nodeEnv === 'production' && secret !== undefined) {
    throw new ConfigError('JWT_SECRET', 'unset in production (tokens are verified with JWT_PUBLIC_KEY or JWT_JWKS_URL only)', '[hidden]');
  }
  return {
    issuer: nonEmpty(env, 'JWT_ISSUER', 'clinicpay'),
    audience: nonEmpty(env, 'JWT_AUDIENCE', 'clinicpay-api'),
    secret,
    publicKeyPem: pem,
    jwksUrl,
    maxAgeSeconds: integer(env, 'JWT_MAX_AGE_SECONDS', 86_400, 60, 30 * 86_400),
  };
}

/** The one algorithm a public key may verify: RS256 for RSA, ES256 for P-256. Throws for anything else. */
export function jwtAlgorithmForKey(pem: string): 'RS256' | 'ES256' {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
}

/** A URL with its password replaced, fit for logs and error messages. */
export function redactUrlCredentials(value: string): string {
  try {
    const url = new URL(value);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return value;
  }
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function secretKeyList(env: Env, name: string): SecretKey[] | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  try {
    const keys = parseSecretKeys(value);
    new SecretBox(keys);
    if (new Set(keys.map((k) => k.id)).size !== keys.length) throw new RangeError('duplicate key id');
    return keys;
  } catch {
    // The value itself is never echoed: it holds keys.
    throw new ConfigError(name, 'id:base64 of 32 bytes, comma-separated, ids unique (1 to 32 of A-Z a-z 0-9 _ -)', '[hidden]');
  }
}

function trustProxy(env: Env, name: string): number | readonly string[] | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  if (/^\d{1,2}$/.test(value)) return Number(value);
  return networkList(env, name, []);
}

function optionalSecret(env: Env, name: string, minLength: number): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  if (value.length < minLength || !/^[\x21-\x7e]+$/.test(value))
    throw new ConfigError(name, `at least ${minLength} printable characters without spaces`, '[hidden]');
  return value;
}

function optionalInteger(env: Env, name: string, min: number, max: number): number | undefined {
  return raw(env, name) === undefined ? undefined : integer(env, name, min, min, max);
}

function networkList(env: Env, name: string, fallback: readonly string[]): readonly string[] {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
  for (const item of items) {
    const [address, bits, extra] = item.split('/');
    const ok =
      extra === undefined && isIP(address ?? '') !== 0 && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(address!) === 4 ? 32 : 128)));
    if (!ok) throw new ConfigError(name, 'comma-separated IP addresses or CIDR ranges, e.g. 127.0.0.0/8,::1', value);
  }
  return items;
}

function nonEmpty(env: Env, name: string, fallback: string): string {
  return raw(env, name) ?? fallback;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(name, `one of ${allowed.join(', ')}`, value);
  return value as T;
}

/** `value`, or a ConfigError in production when it is unset. */
function requiredInProduction<T>(value: T | undefined, nodeEnv: NodeEnv, name: string, expected: string): T | undefined {
  if (value === undefined && nodeEnv === 'production') throw new ConfigError(name, `${expected} (required when NODE_ENV=production)`, undefined);
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value)) throw new ConfigError(name, `an integer from ${min} to ${max}`, value);
  const parsed = Number(value);
  if (parsed < min || parsed > max) throw new ConfigError(name, `an integer from ${min} to ${max}`, value);
  return parsed;
}

function optionalUrl(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const expected = `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, expected, value);
  }
  if (!protocols.includes(url.protocol) || url.hostname === '') throw new ConfigError(name, expected, value);
  return value;
}

/** Tokens on a chain: enough for every licensed issuer, few enough to watch each one's logs. */
const MAX_ACCEPTED_TOKENS = 20;

function acceptedTokenList(env: Env, name: string): AcceptedTokenConfig[] | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  const expected =
    'a JSON array of {"address","symbol","decimals","issuer","licence","peg":"HKD"}, one per accepted token (at most 20), the first being the one invoices are priced in';
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new ConfigError(name, expected, value);
  }
  if (!Array.isArray(parsed) || parsed.length === 0 || parsed.length > MAX_ACCEPTED_TOKENS) throw new ConfigError(name, expected, value);
  const tokens = parsed.map((entry: unknown, index): AcceptedTokenConfig => {
    const fail = (what: string) => new ConfigError(name, `entry ${index + 1}: ${what}`, value);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw fail('an object');
    const { address, symbol, decimals, issuer, licence, peg, freeze, ...rest } = entry as Record<string, unknown>;
    if (Object.keys(rest).length > 0)
      throw fail(`no field other than address, symbol, decimals, issuer, licence, peg and freeze (found ${Object.keys(rest).join(', ')})`);
    if (typeof address !== 'string' || !isAddress(address, { strict: false })) throw fail('"address", a 0x address');
    if (typeof symbol !== 'string' || !/^[A-Za-z0-9.-]{1,20}$/.test(symbol)) throw fail('"symbol", what the token\'s symbol() answers');
    if (typeof decimals !== 'number' || !Number.isInteger(decimals) || decimals < 2 || decimals > 36) throw fail('"decimals", an integer from 2 to 36');
    if (typeof issuer !== 'string' || issuer.trim().length === 0 || issuer.length > 200) throw fail('"issuer", the licensed issuer\'s name');
    if (typeof licence !== 'string' || licence.trim().length === 0 || licence.length > 100) throw fail('"licence", the issuer\'s licence number');
    if (peg !== 'HKD') throw fail('"peg": "HKD" (only HKD stablecoins are accepted)');
    const solidityName = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
    if (
      freeze !== undefined &&
      (typeof freeze !== 'object' ||
        freeze === null ||
        Object.keys(freeze).sort().join() !== 'event,view' ||
        !solidityName.test(String((freeze as Record<string, unknown>).view)) ||
        !solidityName.test(String((freeze as Record<string, unknown>).event)))
    ) {
      throw fail('"freeze", {"view": the issuer\'s view name (e.g. isFrozen), "event": its event name (e.g. Frozen)}');
    }
    return {
      address: getAddress(address),
      symbol,
      decimals,
      issuer: issuer.trim(),
      licence: licence.trim(),
      peg,
      ...(freeze ? { freeze: freeze as { view: string; event: string } } : {}),
    };
  });
  const addresses = new Set(tokens.map((token) => token.address));
  if (addresses.size !== tokens.length) throw new ConfigError(name, 'each token once', value);
  return tokens;
}

/** An HKD amount with at most 2 decimals, from 0 to 999,999,999.99 (as exact text). */
function hkdAmount(env: Env, name: string, fallback: string): string {
  const value = raw(env, name) ?? fallback;
  if (!/^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$/.test(value)) throw new ConfigError(name, 'an HKD amount such as 8000 or 8000.00', value);
  return value;
}

function optionalAddress(env: Env, name: string): Address | undefined {
  const value = raw(env, name);
  if (value === undefined) return undefined;
  // `isAddress` with strict checking rejects a mixed-case address whose EIP-55 checksum is wrong.
  if (!isAddress(value, { strict: true })) throw new ConfigError(name, 'a 20-byte 0x address (EIP-55 checksum if mixed case)', value);
  return getAddress(value);
}

/** An address; unset: `fallback`; `none`: no address at all, for a contract the operator turns off. */
function addressOrNone(env: Env, name: string, fallback: Address): Address | undefined {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (value.toLowerCase() === 'none') return undefined;
  if (!isAddress(value, { strict: true })) throw new ConfigError(name, 'a 20-byte 0x address (EIP-55 checksum if mixed case), or none', value);
  return getAddress(value);
}

function hostName(env: Env, name: string, fallback: string): string {
  const value = raw(env, name);
  if (value === undefined) return fallback;
  if (!/^[A-Za-z0-9.:[\]-]{1,253}$/.test(value)) throw new ConfigError(name, 'a host name or IP address', value);
  return value;
}
