/**
 * `npm start` end to end: the real process, its own embedded Postgres and anvil.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type Address, createPublicClient, erc20Abi, http } from 'viem';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DevStackFile } from '../src/dev/devStackFile.js';
import { isRunning } from '../src/dev/processes.js';
import { waitFor } from '../src/platform/waitFor.js';
import { audited, createTestDatabase } from './support/database.js';
import { type GatewayProcess, spawnClinicpay } from './support/gatewayProcess.js';

let dataDir: string;

beforeAll(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-process-'));
  // Postgres runs as its own user when the tests run as root: it must be able to reach its folder.
  fs.chmodSync(dataDir, 0o755);
});

afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

async function startUntilReady(): Promise<{ gateway: GatewayProcess; stack: DevStackFile; startMs: number }> {
  const started = Date.now();
  const stackFile = path.join(dataDir, 'dev-stack.json');
  fs.rmSync(stackFile, { force: true });
  const gateway = spawnClinicpay(['start'], { DATA_DIR: dataDir, PORT: '0' });
  const stack = await waitFor(
    async () => {
      if (gateway.child.exitCode !== null) throw new Error(`gateway exited early:\n${gateway.output()}`);
      if (!fs.existsSync(stackFile)) return undefined;
      const contents = JSON.parse(fs.readFileSync(stackFile, 'utf8')) as DevStackFile;
      const ready = await fetch(`${contents.api_url}/ready`);
      return ready.status === 200 ? contents : undefined;
    },
    { what: 'the gateway to be ready', timeoutMs: 60_000, intervalMs: 200 },
  );
  return { gateway, stack, startMs: Date.now() - started };
}

async function stop(gateway: GatewayProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<number | string> {
  gateway.child.kill(signal);
  return gateway.exited;
}

function pidsOfStack(): { postgres: number; anvil: number } {
  const postgresPid = Number(fs.readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const anvilPid = Number(fs.readFileSync(path.join(dataDir, 'anvil.pid'), 'utf8').trim());
  return { postgres: postgresPid, anvil: anvilPid };
}

describe('npm start on embedded defaults', () => {
  it('becomes ready, serves a real token, stops cleanly on Ctrl-C, and a second start finds the same data', { timeout: 180_000 }, async () => {
    const first = await startUntilReady();
    expect(first.startMs).toBeLessThan(60_000);
    expect(first.gateway.output()).toMatch(/API\s+http:\/\/127\.0\.0\.1:\d+\/v1/);
    expect(first.gateway.output()).toMatch(/Docs\s+http:\/\/127\.0\.0\.1:\d+\/docs/);
    expect(first.gateway.output()).toMatch(/RPC\s+http:\/\/127\.0\.0\.1:\d+/);
    expect(first.gateway.output()).toContain('dev-stack.json');

    const { stack } = first;
    expect(stack).toMatchObject({ chain_id: 31337, confirmations: 3, token: { symbol: 'tHKD', decimals: 6 } });
    expect(stack.payers.length).toBeGreaterThanOrEqual(3);
    const chain = createPublicClient({ transport: http(stack.rpc_url) });
    const token = { address: stack.token.address, abi: erc20Abi } as const;
    expect(await chain.readContract({ ...token, functionName: 'symbol' })).toBe('tHKD');
    expect(await chain.readContract({ ...token, functionName: 'decimals' })).toBe(6);
    expect(await chain.readContract({ ...token, functionName: 'balanceOf', args: [stack.payers[0]!.address as Address] })).toBeGreaterThan(0n);
    expect(await chain.getChainId()).toBe(stack.chain_id);
    expect(await chain.getCode({ address: stack.factory_address })).not.toBe('0x');
    // Reconciliation reads balances through Multicall3, placed where most chains have it.
    expect(stack.multicall3).toBe('0xcA11bde05977b3631167028862bE2a173976CA11');
    expect(await chain.getCode({ address: stack.multicall3! })).not.toBe('0x');

    // The ready-made clinic token bills the demo clinic through the running gateway.
    expect(Object.keys(stack.tokens).sort()).toEqual(['auditor', 'clinic_admin', 'clinic_staff', 'finance', 'platform_admin']);
    const created = await fetch(`${stack.api_url}/v1/invoices`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${stack.tokens.clinic_admin}`, 'Content-Type': 'application/json', 'Idempotency-Key': 'process-test-1' },
      body: JSON.stringify({ patient_ref: 'P-1', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '350.00' }] }),
    });
    expect(created.status).toBe(201);
    const invoice = (await created.json()) as { clinic_id: string; token_amount_due: string; token: { address: string } };
    expect(invoice.clinic_id).toBe(stack.demo_clinic_id);
    expect(invoice.token_amount_due).toBe('350000000');
    expect(invoice.token.address).toBe(stack.token.address);

    // Something written through the gateway's database must survive the restart.
    const client = new pg.Client({ connectionString: stack.database_url });
    await client.connect();
    await client.query(`INSERT INTO clinics (id, name, settlement_address, webhook_secret) VALUES ('clin_persisted', 'Kept Clinic', $1, 'whsec_test')`, [
      `0x${'12'.repeat(20)}`,
    ]);
    await client.end();

    const pids = pidsOfStack();
    expect(isRunning(pids.postgres, 'postgres')).toBe(true);
    expect(isRunning(pids.anvil, 'anvil')).toBe(true);
    expect(await stop(first.gateway, 'SIGINT')).toBe(0);
    expect(isRunning(pids.postgres, 'postgres')).toBe(false);
    expect(isRunning(pids.anvil, 'anvil')).toBe(false);

    const second = await startUntilReady();
    try {
      expect(second.stack.token.address).toBe(stack.token.address);
      const again = new pg.Client({ connectionString: second.stack.database_url });
      await again.connect();
      const rows = await again.query(`SELECT name FROM clinics WHERE id = 'clin_persisted'`);
      await again.end();
      expect(rows.rows).toEqual([{ name: 'Kept Clinic' }]);
      expect(second.stack.demo_clinic_id).toBe(stack.demo_clinic_id);
      expect(second.stack.factory_address).toBe(stack.factory_address);
      const chainAgain = createPublicClient({ transport: http(second.stack.rpc_url) });
      expect(await chainAgain.getCode({ address: stack.token.address })).not.toBe('0x');
      expect(second.stack.multicall3).toBe(stack.multicall3);
      expect(await chainAgain.getCode({ address: stack.multicall3! })).not.toBe('0x');
    } finally {
      const secondPids = pidsOfStack();
      expect(await stop(second.gateway, 'SIGTERM')).toBe(0);
      expect(isRunning(secondPids.postgres, 'postgres')).toBe(false);
      expect(isRunning(secondPids.anvil, 'anvil')).toBe(false);
    }
  });
});

describe('bad configuration stops the process at once with a message naming the variable', () => {
  it.each([
    ['DATABASE_URL', 'not-a-url'],
    ['RPC_URL', 'localhost:8545'],
    ['PORT', 'eighty'],
    ['LOG_LEVEL', 'loud'],
    ['CONFIRMATIONS', '-3'],
    ['NODE_ENV', 'prod'],
  ])('%s=%s', async (variable, value) => {
    const started = Date.now();
    const gateway = spawnClinicpay(['start'], { DATA_DIR: path.join(dataDir, 'unused'), [variable]: value });
    const code = await gateway.exited;
    expect(code).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(gateway.output()).toContain(`configuration error: ${variable} is invalid`);
    expect(fs.existsSync(path.join(dataDir, 'unused', 'postgres'))).toBe(false);
  });

  it('an unreachable database stops the start with one clean line, no driver noise', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const started = Date.now();
    const gateway = spawnClinicpay(['start'], {
      DATA_DIR: path.join(dataDir, 'no-db'),
      DATABASE_URL: `postgres://clinicpay_app:not-the-password@127.0.0.1:${port}/clinicpay`,
      RPC_URL: inject('rpcUrl'),
      TOKEN_ADDRESS: inject('tokenAddress'),
      FACTORY_ADDRESS: inject('factoryAddress'),
      RELAYER_PRIVATE_KEY: `0x${'42'.repeat(32)}`,
    });
    expect(await gateway.exited).toBe(1);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(gateway.output()).toMatch(/^clinicpay: failed: .*ECONNREFUSED/m);
    expect(gateway.output()).not.toContain('Acquire connection error');
    expect(gateway.output()).not.toContain('not-the-password');
  });

  it('production without a database is refused', async () => {
    const gateway = spawnClinicpay(['start'], { NODE_ENV: 'production' });
    expect(await gateway.exited).not.toBe(0);
    expect(gateway.output()).toContain('DATABASE_URL is required');
  });
});

describe('start-up faults', () => {
  it('a port already in use gives a clear message and a non-zero exit', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const database = await createTestDatabase();
    try {
      const gateway = spawnClinicpay(['start'], {
        PORT: String(port),
        DATA_DIR: path.join(dataDir, 'port-test'),
        DATABASE_URL: database.url,
        RPC_URL: inject('rpcUrl'),
        TOKEN_ADDRESS: inject('tokenAddress'),
        FACTORY_ADDRESS: inject('factoryAddress'),
        RELAYER_PRIVATE_KEY: `0x${'42'.repeat(32)}`,
      });
      expect(await gateway.exited).toBe(1);
      expect(gateway.output()).toContain(`port ${port} on 127.0.0.1 is already in use`);
      // The start is recorded only once the gateway serves.
      expect(await (await audited(database.db))('audit_log').where({ action: 'gateway.started' }).count({ n: '*' })).toEqual([{ n: '0' }]);
    } finally {
      blocker.close();
      await database.close();
    }
  });
});
