/**
 * `npx clinicpay doctor`: checks a production configuration before money flows, one line per
 * check, `ok` or `FAIL` with what to do. A production gateway runs the checks that protect money
 * ({@link MONEY_CHECKS}: the chain, the token, the factory) at start and refuses to start on
 * any of them.
 *
 * Each check has its own deadline, so an unreachable node or database fails in seconds with the
 * reason instead of hanging; none prints a secret or an RPC URL's path.
 */
import { type Address, erc20Abi, getAddress, keccak256, parseAbiItem } from 'viem';
import type { ChainClient } from './chain/client.js';
import { createChainClient } from './chain/client.js';
import { EXPECTED_FACTORY_CODE_HASH } from './chain/depositAddress.js';
import { OidcRelyingParty } from './identity/oidc.js';
import { type AcceptedTokenConfig, type Config, jwtAlgorithmForKey } from './platform/config.js';
import { createDb, type Db } from './platform/db.js';
import { errorSummary } from './platform/log.js';
import { databaseRoleProblems, pendingMigrations } from './platform/migrate.js';

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found (ok) or what is wrong and what to do (FAIL). */
  detail: string;
}

/** The checks whose failure would put money at risk: a production gateway will not start on them. */
export const MONEY_CHECKS = ['chain id', 'token', 'factory'] as const;

/** How far behind wall time the node's head may be and still count as synced. */
const MAX_HEAD_AGE_SECONDS = 600;
/** How many first forwardings (about 60,000 gas each) the relayer should be able to pay for. */
const RELAYER_FLUSHES = 50n;
const GAS_PER_FLUSH = 60_000n;
/** Transactions of the relayer waiting in the mempool beyond which its nonce is not sane. */
const MAX_PENDING_RELAYER_TRANSACTIONS = 16;
const CHECK_TIMEOUT_MS = 10_000;

export interface ChainChecksParameters {
  chain: ChainClient;
  /** The chain the operator means (CHAIN_ID); undefined fails the chain-id check. */
  chainId: number | undefined;
  /** The pricing token. */
  token: Address;
  /** The allow-list's pins (ACCEPTED_TOKENS), the pricing token first; unset: `token` alone, unpinned. */
  acceptedTokens?: readonly AcceptedTokenConfig[] | undefined;
  factory: Address;
  /** The decimals invoices in the database were created with, if any. */
  invoiceDecimals?: readonly number[];
}

/** The chain id, the token and the factory: what a gateway must have right before it takes a payment. */
export async function moneyChecks(params: ChainChecksParameters): Promise<CheckResult[]> {
  const { chain } = params;
  const results: CheckResult[] = [];
  const served = await timed(() => chain.getChainId());
  if (served instanceof Error) {
    return MONEY_CHECKS.map((name) => ({ name, ok: false, detail: `the RPC node does not answer (${served.message}); check RPC_URL` }));
  }
  if (params.chainId === undefined)
    results.push({ name: 'chain id', ok: false, detail: `CHAIN_ID is not set (the node serves ${served}); set it to the chain you mean` });
  else if (served !== params.chainId)
    results.push({ name: 'chain id', ok: false, detail: `the node serves chain ${served}, not CHAIN_ID ${params.chainId}; point RPC_URL at the right chain` });
  else results.push({ name: 'chain id', ok: true, detail: `chain ${served}` });

  results.push(await tokenCheck(params));
  results.push(await factoryCheck(params));
  return results;
}

/** Every accepted token: the pricing one as {@link pricingTokenCheck} says, each other one against its pin. */
async function tokenCheck(params: ChainChecksParameters): Promise<CheckResult> {
  const pins = params.acceptedTokens ?? [];
  const results = await Promise.all([
    pricingTokenCheck(params, pins[0]),
    ...pins.slice(1).map((pin) => pricingTokenCheck({ ...params, token: pin.address, invoiceDecimals: [] }, pin)),
  ]);
  const failed = results.filter((result) => !result.ok);
  return failed.length > 0
    ? { name: 'token', ok: false, detail: failed.map((result) => result.detail).join('; ') }
    : { name: 'token', ok: true, detail: results.map((result) => result.detail).join('; ') };
}

async function pricingTokenCheck({ chain, token, invoiceDecimals = [] }: ChainChecksParameters, pin: AcceptedTokenConfig | undefined): Promise<CheckResult> {
  const name = 'token';
  const code = await timed(() => chain.getCode({ address: token }));
  if (code instanceof Error) return { name, ok: false, detail: `cannot read ${getAddress(token)} (${code.message})` };
  if (!code || code === '0x')
    return { name, ok: false, detail: `no contract at TOKEN_ADDRESS ${getAddress(token)} on this chain; take the address from the issuer's own list` };
  const described = await timed(() =>
    Promise.all([
      chain.readContract({ address: token, abi: erc20Abi, functionName: 'symbol' }),
      chain.readContract({ address: token, abi: erc20Abi, functionName: 'decimals' }),
    ]),
  );
  if (described instanceof Error)
    return { name, ok: false, detail: `${getAddress(token)} does not answer symbol() and decimals() as an ERC-20 does (${described.message})` };
  const [symbol, decimals] = described;
  if (pin && (pin.symbol !== symbol || pin.decimals !== decimals)) {
    return {
      name,
      ok: false,
      detail: `${getAddress(token)} answers ${symbol} with ${decimals} decimals, but ACCEPTED_TOKENS pins ${pin.symbol} with ${pin.decimals}: not the issuer's token, or a wrong pin`,
    };
  }
  const other = invoiceDecimals.find((recorded) => recorded !== decimals);
  if (other !== undefined) {
    return {
      name,
      ok: false,
      detail: `${symbol} has ${decimals} decimals, but invoices in the database were created for a token with ${other}; TOKEN_ADDRESS is not the token they were issued in`,
    };
  }
  return { name, ok: true, detail: `${symbol}, ${decimals} decimals, at ${getAddress(token)}${pin ? ` (${pin.issuer}, licence ${pin.licence})` : ''}` };
}

async function factoryCheck({ chain, factory }: ChainChecksParameters): Promise<CheckResult> {
  const name = 'factory';
  const code = await timed(() => chain.getCode({ address: factory }));
  if (code instanceof Error) return { name, ok: false, detail: `cannot read ${getAddress(factory)} (${code.message})` };
  if (!code || code === '0x')
    return { name, ok: false, detail: `no contract at FACTORY_ADDRESS ${getAddress(factory)}; run npx clinicpay deploy and set the address it prints` };
  const hash = keccak256(code);
  if (hash !== EXPECTED_FACTORY_CODE_HASH) {
    return {
      name,
      ok: false,
      detail: `the code at ${getAddress(factory)} is not ClinicPay's deposit factory (code hash ${hash}); run npx clinicpay deploy and set the address it prints`,
    };
  }
  return { name, ok: true, detail: `ClinicPay's deposit factory at ${getAddress(factory)} (code hash ${hash.slice(0, 10)}…)` };
}

/** Every check, for `npx clinicpay doctor`. */
export async function doctorChecks(config: Config): Promise<CheckResult[]> {
  const results: CheckResult[] = [{ name: 'config', ok: true, detail: `parsed (NODE_ENV=${config.nodeEnv})` }];
  if (config.databaseUrl === undefined)
    results.push({ name: 'database', ok: false, detail: 'DATABASE_URL is not set (doctor checks a production configuration, not the embedded stack)' });
  if (config.rpcUrl === undefined || config.tokenAddress === undefined || config.factoryAddress === undefined) {
    results.push({ name: 'rpc', ok: false, detail: 'RPC_URL, ACCEPTED_TOKENS (or TOKEN_ADDRESS) and FACTORY_ADDRESS must all be set' });
  }
  let db: Db | undefined;
  let invoiceDecimals: number[] = [];
  if (config.databaseUrl !== undefined) {
    db = createDb({ connectionString: config.databaseUrl, poolMax: 1, applicationName: 'clinicpay-doctor', statementTimeoutMs: CHECK_TIMEOUT_MS });
    const database = await databaseChecks(db);
    results.push(...database.results);
    invoiceDecimals = database.invoiceDecimals;
  }
  try {
    if (config.rpcUrl !== undefined && config.tokenAddress !== undefined && config.factoryAddress !== undefined) {
      const chain = createChainClient({ rpcUrl: config.rpcUrl, timeoutMs: CHECK_TIMEOUT_MS });
      results.push(
        ...(await moneyChecks({
          chain,
          chainId: config.chainId,
          token: config.tokenAddress,
          acceptedTokens: config.acceptedTokens,
          factory: config.factoryAddress,
          invoiceDecimals,
        })),
      );
      results.push(...(await nodeChecks(chain, config)));
      results.push(await relayerCheck(chain, config, db));
    }
  } finally {
    await db?.destroy();
  }
  results.push(await jwtCheck(config));
  results.push(webhookEgressCheck(config));
  results.push(publicUrlCheck(config));
  results.push(await signInCheck(config));
  return results;
}

/** Whether people can sign in: the identity provider answers its discovery document. */
async function signInCheck(config: Config): Promise<CheckResult> {
  const name = 'sign-in';
  const oidc = config.signIn.oidc;
  if (oidc === undefined) return { name, ok: true, detail: 'OIDC_ISSUER is not set: nobody signs in to the console; the API takes tokens and API keys' };
  if (await new OidcRelyingParty(oidc).reachable()) return { name, ok: true, detail: `${oidc.issuer} answers OpenID Connect discovery` };
  return {
    name,
    ok: false,
    detail: `${oidc.issuer}/.well-known/openid-configuration cannot be fetched; check OIDC_ISSUER and that the gateway can reach the provider`,
  };
}

async function databaseChecks(db: Db): Promise<{ results: CheckResult[]; invoiceDecimals: number[] }> {
  const reached = await timed(() => db.raw('SELECT 1'));
  if (reached instanceof Error)
    return {
      results: [{ name: 'database', ok: false, detail: `cannot connect (${reached.message}); check DATABASE_URL and the network` }],
      invoiceDecimals: [],
    };
  const results: CheckResult[] = [{ name: 'database', ok: true, detail: 'reachable' }];
  const pending = await pendingMigrations(db);
  results.push(
    pending.length === 0
      ? { name: 'migrations', ok: true, detail: 'current' }
      : {
          name: 'migrations',
          ok: false,
          detail: `${pending.length} pending (${pending[0]}…); start once with DATABASE_MIGRATION_URL, or run npx clinicpay migrate as the owner`,
        },
  );
  const problems = await databaseRoleProblems(db);
  results.push(
    problems.length === 0
      ? { name: 'database role', ok: true, detail: 'least privilege: rows only, no schema changes' }
      : { name: 'database role', ok: false, detail: `${problems.join('; ')}; connect DATABASE_URL as the app role (README: Two database roles)` },
  );
  const invoiceDecimals = pending.length === 0 ? ((await db('invoices').distinct('token_decimals').pluck('token_decimals')) as number[]).map(Number) : [];
  return { results, invoiceDecimals };
}

async function nodeChecks(chain: ChainClient, config: Config): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const head = await timed(() => chain.getBlock({ blockTag: 'latest' }));
  if (head instanceof Error) return [{ name: 'node synced', ok: false, detail: `cannot read the head (${head.message})` }];
  const age = Math.floor(Date.now() / 1000) - Number(head.timestamp);
  results.push(
    age <= MAX_HEAD_AGE_SECONDS
      ? { name: 'node synced', ok: true, detail: `head ${head.number}, ${Math.max(age, 0)} s old` }
      : { name: 'node synced', ok: false, detail: `the head (block ${head.number}) is ${age} s old; the node is not synced, or the chain is halted` },
  );
  const past = head.number > 1000n ? head.number - 1000n : 0n;
  // Reconciliation reads balances at past blocks; a node that prunes old state cannot answer.
  const archive = await timed(() => chain.getBalance({ address: config.factoryAddress!, blockNumber: past }));
  results.push(
    archive instanceof Error
      ? { name: 'archive access', ok: false, detail: `state at block ${past} cannot be read (${archive.message}); reconciliation needs an archive node` }
      : { name: 'archive access', ok: true, detail: `state at block ${past} (${head.number - past} blocks back)` },
  );
  const from = head.number >= BigInt(config.maxBlockRange) ? head.number - BigInt(config.maxBlockRange) + 1n : 0n;
  const logs = await timed(() =>
    chain.getLogs({
      address: config.tokenAddress!,
      event: parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)'),
      fromBlock: from,
      toBlock: head.number,
    }),
  );
  results.push(
    logs instanceof Error
      ? { name: 'eth_getLogs range', ok: false, detail: `${config.maxBlockRange} blocks refused (${logs.message}); lower MAX_BLOCK_RANGE` }
      : { name: 'eth_getLogs range', ok: true, detail: `${config.maxBlockRange} blocks accepted` },
  );
  return results;
}

async function relayerCheck(chain: ChainClient, config: Config, db: Db | undefined): Promise<CheckResult> {
  const name = 'relayer';
  if (config.relayerPrivateKey === undefined) return { name, ok: false, detail: 'RELAYER_PRIVATE_KEY is not set' };
  const { privateKeyToAccount } = await import('viem/accounts');
  const address = privateKeyToAccount(config.relayerPrivateKey).address;
  const state = await timed(() =>
    Promise.all([
      chain.getBalance({ address }),
      chain.estimateFeesPerGas(),
      chain.getTransactionCount({ address, blockTag: 'latest' }),
      chain.getTransactionCount({ address, blockTag: 'pending' }),
    ]),
  );
  if (state instanceof Error) return { name, ok: false, detail: `cannot read ${address} (${state.message})` };
  const [balance, fees, latest, pending] = state;
  const needed = RELAYER_FLUSHES * GAS_PER_FLUSH * fees.maxFeePerGas;
  if (balance < needed) {
    return { name, ok: false, detail: `${address} holds ${balance} wei; ${RELAYER_FLUSHES} forwardings at today's gas price need ${needed}: fund it` };
  }
  if (pending - latest > MAX_PENDING_RELAYER_TRANSACTIONS) {
    return { name, ok: false, detail: `${address} has ${pending - latest} transactions waiting in the mempool; look at relayer_transactions before going on` };
  }
  const inFlight = db ? await timed(() => db('relayer_transactions').whereIn('status', ['signed', 'sent']).count({ n: '*' })) : undefined;
  const waiting = inFlight instanceof Error || inFlight === undefined ? '' : `, ${(inFlight as { n: string }[])[0]!.n} in flight`;
  return { name, ok: true, detail: `${address}: enough for ${RELAYER_FLUSHES}+ forwardings, nonce ${latest}${waiting}` };
}

async function jwtCheck(config: Config): Promise<CheckResult> {
  const name = 'jwt keys';
  const { jwt } = config;
  if (jwt.jwksUrl === undefined && jwt.publicKeyPem === undefined) {
    return { name, ok: config.nodeEnv !== 'production', detail: 'no JWT_PUBLIC_KEY or JWT_JWKS_URL: only development tokens are accepted' };
  }
  if (jwt.jwksUrl !== undefined) {
    const fetched = await timed(async () => {
      const response = await fetch(jwt.jwksUrl!, { signal: AbortSignal.timeout(CHECK_TIMEOUT_MS) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const body = (await response.json()) as { keys?: unknown[] };
      return body.keys?.length ?? 0;
    });
    if (fetched instanceof Error) return { name, ok: false, detail: `the JWKS at ${new URL(jwt.jwksUrl).origin} cannot be fetched (${fetched.message})` };
    if (fetched === 0) return { name, ok: false, detail: 'the JWKS has no keys' };
    return { name, ok: true, detail: `JWKS with ${fetched} key(s)` };
  }
  const algorithm = await timed(async () => jwtAlgorithmForKey(jwt.publicKeyPem!));
  if (algorithm instanceof Error) return { name, ok: false, detail: `JWT_PUBLIC_KEY does not load (${algorithm.message})` };
  return { name, ok: true, detail: `public key (${algorithm})` };
}

function webhookEgressCheck(config: Config): CheckResult {
  const name = 'webhook egress';
  const { requireHttps, allowedNetworks } = config.webhooks;
  if (!requireHttps) return { name, ok: false, detail: 'WEBHOOK_REQUIRE_HTTPS is false: clinics could receive events over plain http' };
  if (allowedNetworks.length > 0)
    return { name, ok: false, detail: `WEBHOOK_ALLOWED_NETWORKS lets webhooks reach ${allowedNetworks.join(', ')}; leave it empty in production` };
  return { name, ok: true, detail: 'https only; private, loopback and link-local addresses refused' };
}

function publicUrlCheck(config: Config): CheckResult {
  const name = 'public url';
  if (config.publicUrl === undefined) return { name, ok: false, detail: 'PUBLIC_URL is not set: checkout links would point at the listening address' };
  if (!config.publicUrl.startsWith('https://'))
    return { name, ok: false, detail: `PUBLIC_URL ${config.publicUrl} is not https: patients' checkout links must be` };
  return { name, ok: true, detail: config.publicUrl };
}

/** The lines doctor prints. */
export function formatChecks(results: readonly CheckResult[]): string[] {
  const width = Math.max(...results.map((result) => result.name.length));
  return results.map((result) => `${result.ok ? 'ok  ' : 'FAIL'} ${result.name.padEnd(width)}  ${result.detail}`);
}

/** Runs `work` with a deadline; an error (or the deadline) comes back as an Error value, with its first line only. */
async function timed<T>(work: () => Promise<T>): Promise<T | Error> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    return new Error(errorSummary(error).message);
  } finally {
    clearTimeout(timer);
  }
}
