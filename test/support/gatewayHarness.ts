/**
 * Running the real gateway process against a chain and a database a test controls: a private
 * anvil with the token and factory deployed, a funded payer and relayer, a webhook receiver,
 * and the ledger checks every settlement test ends with.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Knex } from 'knex';
import { type Address, createTestClient, createWalletClient, erc20Abi, type Hex, type PrivateKeyAccount, parseEther, http as viemHttp } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { type ChainClient, createChainClient } from '../../src/chain/client.js';
import type { PaymentNetwork } from '../../src/chain/paymentNetwork.js';
import { loadPaymentNetwork } from '../../src/chain/paymentNetwork.js';
import { type Anvil, DEV_CHAIN_ID, startAnvil } from '../../src/dev/anvil.js';
import { ensureDevContracts } from '../../src/dev/contracts.js';
import type { Db } from '../../src/platform/db.js';
import { waitFor } from '../../src/platform/waitFor.js';
import { TEST_SECRET_KEY } from './app.js';
import { type GatewayProcess, spawnClinicpay } from './gatewayProcess.js';

// ---------------------------------------------------------------------------------------------
// The gateway process
// ---------------------------------------------------------------------------------------------

export interface StartedGateway {
  process: GatewayProcess;
  /** `http://127.0.0.1:<port>`, as the process printed it. */
  url: string;
}

/**
 * Spawns `clinicpay start` with `env` and waits until it prints its API URL and `/ready`
 * answers 200. Throws (with the process output) when it exits first.
 */
export async function startGatewayProcess(env: Record<string, string>, { timeoutMs = 60_000, ready = true } = {}): Promise<StartedGateway> {
  const gateway = spawnClinicpay(['start'], env);
  try {
    const url = await waitFor(
      () => {
        if (gateway.child.exitCode !== null || gateway.child.signalCode !== null) throw new Error(`gateway exited early:\n${gateway.output()}`);
        return /API\s+(http:\/\/\S+)\/v1/.exec(gateway.output())?.[1];
      },
      { what: 'the gateway to print its API URL', timeoutMs, intervalMs: 50 },
    );
    if (ready) {
      await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, { what: 'the gateway to be ready', timeoutMs, intervalMs: 100 });
    }
    return { process: gateway, url };
  } catch (error) {
    await stopGatewayProcess(gateway, 'SIGKILL');
    throw new Error(`${(error as Error).message}\n--- gateway output ---\n${gateway.output()}`, { cause: error });
  }
}

/** Sends `signal` unless the process has exited, and resolves with its exit code or signal. */
export async function stopGatewayProcess(gateway: GatewayProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | string> {
  if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill(signal);
  return gateway.exited;
}

/** The JSON log records among a process's output lines (start-up banner lines are skipped). */
export function logRecords(output: string): Record<string, unknown>[] {
  const records: Record<string, unknown>[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      records.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // A line cut by the read boundary; the next read has it whole.
    }
  }
  return records;
}

/** Names of the workers whose leadership the process logged acquiring, in order (repeats kept). */
export function leadershipAcquired(output: string): string[] {
  return logRecords(output)
    .filter((record) => record.msg === 'worker leadership acquired')
    .map((record) => String(record.worker));
}

// ---------------------------------------------------------------------------------------------
// A private chain
// ---------------------------------------------------------------------------------------------

export interface PrivateChain {
  anvil: Anvil;
  rpcUrl: string;
  chain: ChainClient;
  testClient: ReturnType<typeof createTestClient>;
  network: PaymentNetwork;
  /** Holds 1,000,000 tokens and gas. */
  payer: PrivateKeyAccount;
  payerWallet: ReturnType<typeof createWalletClient<ReturnType<typeof viemHttp>, typeof foundry, PrivateKeyAccount>>;
  /** Pays the flushes' gas; funded with anvil_setBalance. */
  relayerKey: Hex;
  relayer: Address;
}

/**
 * Starts an anvil of the test's own (a block per transaction), deploys the token and factory,
 * and funds a payer with tokens and gas and a relayer with gas.
 */
export async function startPrivateChain(workDir: string, { stateFile }: { stateFile?: string } = {}): Promise<PrivateChain> {
  const anvil = await startAnvil({ logFile: path.join(workDir, `anvil-${Date.now()}.log`), ...(stateFile ? { stateFile } : {}) });
  try {
    const rpcUrl = anvil.rpcUrl;
    const chain = createChainClient({ rpcUrl, timeoutMs: 5000 });
    const testClient = createTestClient({ chain: foundry, mode: 'anvil', transport: viemHttp(rpcUrl) });
    const payer = privateKeyToAccount(generatePrivateKey());
    const relayerKey = generatePrivateKey();
    const relayer = privateKeyToAccount(relayerKey).address;
    await testClient.setBalance({ address: relayer, value: parseEther('100') });
    const deployments = await ensureDevContracts({
      chain,
      rpcUrl,
      chainId: DEV_CHAIN_ID,
      deployer: privateKeyToAccount(generatePrivateKey()),
      payers: [payer.address],
      gasAccounts: [],
      recordFile: path.join(workDir, `deployments-${Date.now()}.json`),
    });
    const network = await loadPaymentNetwork({
      chain,
      tokens: deployments.token,
      factory: deployments.factory,
      multicall3: deployments.multicall3,
      timeoutMs: 10_000,
    });
    const payerWallet = createWalletClient({ account: payer, chain: foundry, transport: viemHttp(rpcUrl) });
    return { anvil, rpcUrl, chain, testClient, network, payer, payerWallet, relayerKey, relayer };
  } catch (error) {
    await anvil.stop();
    throw error;
  }
}

/** The environment that points a gateway process at `chain` and `databaseUrl`. */
export function gatewayEnv(chain: PrivateChain, databaseUrl: string, dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    RPC_URL: chain.rpcUrl,
    TOKEN_ADDRESS: chain.network.token.address,
    FACTORY_ADDRESS: chain.network.factory,
    RELAYER_PRIVATE_KEY: chain.relayerKey,
    JWT_SECRET: 'gateway-fault-tests-secret-0123456789abcdef',
    // The test process's key: clinics it created have their webhook secrets sealed with it.
    SECRETS_KEYS: `${TEST_SECRET_KEY.id}:${TEST_SECRET_KEY.key.toString('base64')}`,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** An exact ERC-20 transfer of `amount` to `to`, mined (anvil automines). */
export async function pay(chain: PrivateChain, to: string, amount: bigint): Promise<Hex> {
  const hash = await chain.payerWallet.writeContract({
    address: chain.network.token.address,
    abi: erc20Abi,
    functionName: 'transfer',
    args: [to as Address, amount],
  });
  const receipt = await chain.chain.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (receipt.status !== 'success') throw new Error(`payment ${hash} reverted`);
  return hash;
}

export async function tokenBalance(chain: ChainClient, token: Address, holder: string): Promise<bigint> {
  return chain.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [holder as Address] });
}

// ---------------------------------------------------------------------------------------------
// A webhook receiver
// ---------------------------------------------------------------------------------------------

export interface ReceivedWebhook {
  headers: http.IncomingHttpHeaders;
  rawBody: string;
  receivedAt: Date;
  event: { id: string; type: string; created: number; data: Record<string, unknown> };
}

/** A node:http server on 127.0.0.1 that answers 200 and records every request. */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks).toString('utf8');
      this.received.push({ headers: req.headers, rawBody, receivedAt: new Date(), event: JSON.parse(rawBody) as ReceivedWebhook['event'] });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/clinicpay`;
  }

  ofType(type: string): ReceivedWebhook[] {
    return this.received.filter((webhook) => webhook.event.type === type);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---------------------------------------------------------------------------------------------
// Ledger and settlement checks
// ---------------------------------------------------------------------------------------------

/** `(entry, asset)` pairs whose postings do not sum to zero; empty when the ledger balances. */
export async function unbalancedEntries(db: Db): Promise<{ entry_id: string; asset: string; total: string }[]> {
  const { rows } = (await db.raw(`SELECT entry_id, asset, sum(amount)::text AS total FROM postings GROUP BY entry_id, asset HAVING sum(amount) <> 0`)) as {
    rows: { entry_id: string; asset: string; total: string }[];
  };
  return rows;
}

/** Derived balances of a clinic's ledger accounts by kind (zero for an account never posted to). */
export async function clinicBalances(db: Db, clinicId: string): Promise<Record<'deposits' | 'settlement' | 'patient_payments', bigint>> {
  const { rows } = (await db.raw(
    `SELECT a.kind, coalesce(sum(p.amount), 0)::text AS balance
       FROM ledger_accounts a LEFT JOIN postings p ON p.account_id = a.id
      WHERE a.clinic_id = ? GROUP BY a.kind`,
    [clinicId],
  )) as { rows: { kind: string; balance: string }[] };
  const balances = { deposits: 0n, settlement: 0n, patient_payments: 0n };
  for (const row of rows) balances[row.kind as keyof typeof balances] = BigInt(row.balance);
  return balances;
}

export async function countWhere(db: Db, sql: string, bindings: readonly Knex.RawBinding[] = []): Promise<number> {
  const { rows } = (await db.raw(`SELECT count(*)::int AS n FROM (${sql}) AS counted`, bindings)) as { rows: { n: number }[] };
  return rows[0]!.n;
}

/** A temp folder Postgres (running as its own user when we are root) can reach. */
export function tempDir(prefix: string, base: string): string {
  const dir = fs.mkdtempSync(path.join(base, prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// A flaky network between the gateway and its node
// ---------------------------------------------------------------------------------------------

/**
 * A JSON-RPC pass-through in front of a real node that, when told to, cuts the connection of a
 * share of the requests for one of `methods` (the caller sees a reset, as with a node restarting
 * or a load balancer dropping it), chosen by a seeded pseudo-random sequence. Everything else
 * reaches the node unchanged.
 */
export class FlakyRpcProxy {
  /** Methods to fail, and the share of their requests cut (0–1); `undefined` passes everything. */
  failing: { methods: ReadonlySet<string>; share: number } | undefined;
  /** Requests cut, by method. */
  readonly cut = new Map<string, number>();
  private seed = 0x2545f491;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const parsed = JSON.parse(body) as { method: string } | { method: string }[];
      const methods = (Array.isArray(parsed) ? parsed : [parsed]).map((call) => call.method);
      const failing = this.failing;
      const candidate = failing ? methods.find((method) => failing.methods.has(method)) : undefined;
      if (failing && candidate !== undefined && this.random() < failing.share) {
        this.cut.set(candidate, (this.cut.get(candidate) ?? 0) + 1);
        req.socket.destroy();
        return;
      }
      fetch(this.target, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then(
        async (upstream) => res.writeHead(upstream.status, { 'content-type': 'application/json' }).end(await upstream.text()),
        () => req.socket.destroy(),
      );
    });
  });

  constructor(private readonly target: string) {}

  /** mulberry32: the same sequence on every run. */
  private random(): number {
    this.seed = (this.seed + 0x6d2b79f5) | 0;
    let t = this.seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
