/**
 * What a simulation runs on, started once per process: an embedded Postgres with a migrated
 * template database, an anvil with the dev contracts (the second dev token plays a token the
 * gateway does not accept), the fault-injecting JSON-RPC proxy, and a webhook receiver that
 * remembers every delivery, and the bundle the gateway processes run. Each run gets a fresh
 * database from the template and the chain as it was after set-up (`evm_snapshot` /
 * `evm_revert`).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hex, PrivateKeyAccount } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { type ChainClient, createChainClient } from '../src/chain/client.js';
import { type Anvil, DEV_CHAIN_ID, startAnvil } from '../src/dev/anvil.js';
import { type DevDeployments, ensureDevContracts } from '../src/dev/contracts.js';
import { type EmbeddedPostgres, ensureDatabase, startEmbeddedPostgres } from '../src/dev/postgres.js';
import { createDb } from '../src/platform/db.js';
import { migrateLatest } from '../src/platform/migrate.js';
import { SecretBox } from '../src/platform/secretBox.js';
import { type FaultyRpc, startFaultyRpc } from './faultyRpc.js';
import { bundleGatewayProcess } from './gateways.js';

const TEMPLATE = 'clinicpay_sim_template';

/** Deliveries the receiver has had: per event id, the digest of every distinct body. */
export interface WebhookReceiver {
  url: string;
  bodies: Map<string, Set<string>>;
  close(): Promise<void>;
}

export interface SimulationStack {
  workDir: string;
  postgres: EmbeddedPostgres;
  anvil: Anvil;
  /** Straight to the node: the simulator's own reads and payments, never faulted. */
  direct: ChainClient;
  rpc: FaultyRpc;
  receiver: WebhookReceiver;
  deployments: DevDeployments;
  payers: PrivateKeyAccount[];
  relayer: PrivateKeyAccount;
  relayerKey: Hex;
  secrets: SecretBox;
  /** The key of `secrets` (hex), for the gateway processes. */
  secretKey: string;
  /** The gateway process's bundle. */
  gatewayEntry: string;
  templateDatabase: string;
  /** Takes the chain back to how set-up left it. */
  resetChain(): Promise<void>;
  close(): Promise<void>;
}

export async function startSimulationStack(): Promise<SimulationStack> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-sim-'));
  // Postgres runs as its own user when we are root.
  fs.chmodSync(workDir, 0o755);
  // Inside the project, so that the bundle's packages resolve from its node_modules.
  const cacheDir = fileURLToPath(new URL('../node_modules/.cache/', import.meta.url));
  fs.mkdirSync(cacheDir, { recursive: true });
  const bundleDir = fs.mkdtempSync(path.join(cacheDir, 'clinicpay-sim-'));
  const stoppers: (() => Promise<unknown>)[] = [async () => fs.rmSync(bundleDir, { recursive: true, force: true })];
  try {
    const gatewayEntry = await bundleGatewayProcess(bundleDir);
    const postgres = await startEmbeddedPostgres({
      dataDir: path.join(workDir, 'postgres'),
      password: randomBytes(16).toString('hex'),
      logFile: path.join(workDir, 'postgres.log'),
      ephemeral: false,
    });
    stoppers.push(() => postgres.stop());
    const anvil = await startAnvil({ logFile: path.join(workDir, 'anvil.log') });
    stoppers.push(() => anvil.stop());
    const direct = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 10_000 });
    const payers = [0, 1, 2].map(() => privateKeyToAccount(generatePrivateKey()));
    const relayerKey = generatePrivateKey();
    const relayer = privateKeyToAccount(relayerKey);
    const secretKey = randomBytes(32);
    const deployments = await ensureDevContracts({
      chain: direct,
      rpcUrl: anvil.rpcUrl,
      chainId: DEV_CHAIN_ID,
      deployer: privateKeyToAccount(generatePrivateKey()),
      payers: payers.map((payer) => payer.address),
      gasAccounts: [relayer.address],
      recordFile: path.join(workDir, 'deployments.json'),
    });
    await ensureDatabase(postgres.urlFor('postgres'), TEMPLATE);
    const template = createDb({ connectionString: postgres.urlFor(TEMPLATE), poolMax: 1 });
    try {
      await migrateLatest(template);
    } finally {
      await template.destroy();
    }
    const rpc = await startFaultyRpc(anvil.rpcUrl);
    stoppers.push(() => rpc.close());
    const receiver = await startWebhookReceiver();
    stoppers.push(() => receiver.close());
    let snapshot = (await anvilRpc(anvil.rpcUrl, 'evm_snapshot', [])) as string;
    return {
      workDir,
      postgres,
      anvil,
      direct,
      rpc,
      receiver,
      deployments,
      payers,
      relayer,
      relayerKey,
      secrets: new SecretBox([{ id: 'sim', key: secretKey }]),
      secretKey: secretKey.toString('hex'),
      gatewayEntry,
      templateDatabase: TEMPLATE,
      async resetChain() {
        if ((await anvilRpc(anvil.rpcUrl, 'evm_revert', [snapshot])) !== true) throw new Error('anvil could not revert to the snapshot');
        snapshot = (await anvilRpc(anvil.rpcUrl, 'evm_snapshot', [])) as string;
      },
      async close() {
        for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
        fs.rmSync(workDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
    fs.rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
}

/** One JSON-RPC call to the node (its cheat codes included). */
export async function anvilRpc(rpcUrl: string, method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const answer = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (answer.error) throw new Error(`${method}: ${answer.error.message}`);
  return answer.result;
}

/** Answers 200 to every delivery and remembers each event id's bodies (by digest). */
async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const bodies = new Map<string, Set<string>>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      try {
        const { id } = JSON.parse(body.toString('utf8')) as { id: string };
        const seen = bodies.get(id) ?? new Set<string>();
        seen.add(createHash('sha256').update(body).digest('hex'));
        bodies.set(id, seen);
        response.writeHead(200).end();
      } catch {
        response.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks`,
    bodies,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
