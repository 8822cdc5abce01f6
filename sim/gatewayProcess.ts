/**
 * A gateway process of the simulator, started by {@link ./gateways.ts} as a child process: its
 * own pools, chain client and workers, as `npm start` runs them, taking each worker's advisory
 * lock on a session of its own before a pass, as a leader does. It runs one pass of a worker
 * when told to, and nothing by itself. A crash armed at a failpoint kills it there, with SIGKILL
 * (having first written the failpoint's name to its stdout, for the simulator to count); the
 * simulator may also kill it at any moment. Either way nothing of it runs on: its connections
 * close, its locks go with them, and whatever it had not committed is lost.
 */
import fs from 'node:fs';
import pg from 'pg';
import type { Address, Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createChainClient } from '../src/chain/client.js';
import { loadPaymentNetwork } from '../src/chain/paymentNetwork.js';
import { createDb } from '../src/platform/db.js';
import { armFailpoints, type FailpointName, type PlantName } from '../src/platform/failpoints.js';
import { createLogger } from '../src/platform/log.js';
import { createMetrics } from '../src/platform/metrics.js';
import { SecretBox } from '../src/platform/secretBox.js';
import type { Worker } from '../src/platform/workers.js';
import { gatewayWorkers } from '../src/workers.js';
import type { WorkerName } from './schedule.js';

/** What a process is started with. */
export interface GatewaySettings {
  /** Names its connections `sim-instance-N` (`-lock` for the lock sessions), so that a fault can cut them. */
  index: number;
  databaseUrl: string;
  /** The JSON-RPC proxy the gateway reads the chain through. */
  rpcUrl: string;
  rpcTimeoutMs: number;
  /** The node itself, for loading the payment network at start. */
  nodeUrl: string;
  /** The accepted token. */
  token: Address;
  factory: Address;
  multicall3: Address;
  relayerKey: Hex;
  /** The key of the secret box the run's clinics' webhook secrets are sealed with (hex). */
  secretKey: string;
  confirmations: number;
  plant: PlantName | undefined;
  /** Failpoints armed to crash when this process starts. */
  crashes: FailpointName[];
}

export type ToGateway =
  | { type: 'start'; settings: GatewaySettings }
  | { type: 'pass'; id: number; worker: WorkerName }
  | { type: 'arm'; crashes: FailpointName[] };

export type PassOutcome = 'ran' | 'standby' | 'failed';

export type FromGateway = { type: 'booted' } | { type: 'started' } | { type: 'passed'; id: number; outcome: PassOutcome; error?: string };

/** The line a process writes to its stdout just before it kills itself at a failpoint. */
export const CRASH_LINE = 'crash at ';

const send = (message: FromGateway) => process.send?.(message);

let workers = new Map<WorkerName, Worker>();
const sessions = new Map<WorkerName, pg.Client>();
let settings: GatewaySettings;
let crashes = new Set<FailpointName>();

async function start(given: GatewaySettings): Promise<void> {
  settings = given;
  crashes = new Set(given.crashes);
  armFailpoints({
    reached(name) {
      if (!crashes.has(name)) return;
      // Written synchronously, so that it is out before the signal: nothing runs after this.
      fs.writeSync(1, `${CRASH_LINE}${name}\n`);
      process.kill(process.pid, 'SIGKILL');
    },
    planted: (name) => name === given.plant,
  });
  const network = await loadPaymentNetwork({
    chain: createChainClient({ rpcUrl: given.nodeUrl, timeoutMs: 10_000 }),
    tokens: given.token,
    factory: given.factory,
    multicall3: given.multicall3,
    timeoutMs: 10_000,
  });
  const db = createDb({ connectionString: given.databaseUrl, poolMax: 4, applicationName: `sim-instance-${given.index}` });
  const started = gatewayWorkers({
    db,
    chain: createChainClient({ rpcUrl: given.rpcUrl, timeoutMs: given.rpcTimeoutMs }),
    logger: createLogger('silent'),
    metrics: createMetrics(),
    network,
    finality: { confirmations: given.confirmations, useFinalizedTag: false, maxBlockRange: 2000n },
    relayer: privateKeyToAccount(given.relayerKey),
    relayerReplaceAfterMs: 1000,
    paymentTolerance: 0n,
    flushBatchSize: 50,
    watcherPollMs: 100,
    reconIntervalMinutes: 0,
    reconFullSweepDays: 0,
    webhookAllowedNetworks: ['127.0.0.0/8'],
    secrets: new SecretBox([{ id: 'sim', key: Buffer.from(given.secretKey, 'hex') }]),
  });
  workers = new Map(started.map((worker) => [worker.name as WorkerName, worker]));
}

/** One pass of `name`, if this process holds (or takes) its lock. */
async function pass(name: WorkerName): Promise<{ outcome: PassOutcome; error?: string }> {
  const worker = workers.get(name)!;
  let locked: boolean;
  try {
    let session = sessions.get(name);
    if (!session) {
      session = new pg.Client({ connectionString: settings.databaseUrl, application_name: `sim-instance-${settings.index}-lock` });
      session.on('error', () => undefined);
      sessions.set(name, session);
      await session.connect();
    }
    // Asked again on every pass, as a leader does; the lock is released only when its session closes.
    locked = (await session.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [worker.lockKey])).rows[0]?.locked === true;
  } catch (error) {
    // The lock's session was cut: the lock went with it; a new session asks next time.
    await sessions
      .get(name)
      ?.end()
      .catch(() => undefined);
    sessions.delete(name);
    return { outcome: 'failed', error: (error as Error).message };
  }
  if (!locked) return { outcome: 'standby' };
  try {
    await worker.tick();
    return { outcome: 'ran' };
  } catch (error) {
    return { outcome: 'failed', error: (error as Error).message.split('\n')[0]!.slice(0, 300) };
  }
}

process.on('message', (message: ToGateway) => {
  switch (message.type) {
    case 'start':
      start(message.settings).then(
        () => send({ type: 'started' }),
        (error: unknown) => {
          console.error(`the simulated gateway could not start: ${(error as Error).message}`);
          process.exit(1);
        },
      );
      break;
    case 'pass':
      void pass(message.worker).then((result) => send({ type: 'passed', id: message.id, ...result }));
      break;
    case 'arm':
      crashes = new Set(message.crashes);
      break;
  }
});
// The simulator gone, the process goes too.
process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
send({ type: 'booted' });
