/**
 * Going live as the operator's guide says, against a fresh anvil standing in for a real chain:
 * `deploy` puts the factory on it, `doctor` passes the configuration (and fails it, with the
 * right line, for a wrong chain id, a wrong token and a missing factory), and a gateway in
 * production mode (external Postgres with two roles, external RPC, ES256 tokens, no embedded
 * stack) takes a payment end to end and forwards it with that factory. A production start on a
 * token other than the one its invoices were issued in is refused.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import jwt from 'jsonwebtoken';
import { type Address, createTestClient, createWalletClient, erc20Abi, http, parseEther } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { testHKDAbi, testHKDBytecode } from '../contracts/artifacts/TestHKD.js';
import { type ChainClient, createChainClient } from '../src/chain/client.js';
import { deterministicFactoryAddress } from '../src/chain/depositAddress.js';
import { type Anvil, DEV_CHAIN_ID, startAnvil } from '../src/dev/anvil.js';
import { ensureDatabase, ensureDatabaseRoles } from '../src/dev/postgres.js';
import { createDb } from '../src/platform/db.js';
import { databaseRoleProblems } from '../src/platform/migrate.js';
import { waitFor } from '../src/platform/waitFor.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startGatewayProcess, stopGatewayProcess } from './support/gatewayHarness.js';
import { spawnClinicpay } from './support/gatewayProcess.js';

let workDir: string;
let anvil: Anvil;
let chain: ChainClient;
let database: TestDatabase;
let token: Address;
let otherToken: Address;
const owner = privateKeyToAccount(generatePrivateKey());
const payer = privateKeyToAccount(generatePrivateKey());
const relayerKey = generatePrivateKey();
const clinicWallet = privateKeyToAccount(generatePrivateKey()).address;
const { privateKey: signingKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const SECRETS_KEYS = `k1:${randomBytes(32).toString('base64')}`;
const ISSUER = 'https://id.example.org';
const AUDIENCE = 'clinicpay-api';

beforeAll(async () => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-production-'));
  anvil = await startAnvil({ logFile: path.join(workDir, 'anvil.log') });
  chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 });
  const testClient = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });
  for (const address of [owner.address, payer.address, privateKeyToAccount(relayerKey).address])
    await testClient.setBalance({ address, value: parseEther('100') });
  const wallet = createWalletClient({ account: owner, chain: foundry, transport: http(anvil.rpcUrl) });
  const deployToken = async (decimals: number) => {
    const hash = await wallet.deployContract({ abi: testHKDAbi, bytecode: testHKDBytecode, args: ['Harbour HKD', 'hHKD', decimals, owner.address] });
    return (await chain.waitForTransactionReceipt({ hash })).contractAddress!;
  };
  token = await deployToken(6);
  otherToken = await deployToken(18);
  const mint = await wallet.writeContract({ address: token, abi: testHKDAbi, functionName: 'mint', args: [payer.address, 1_000_000_000n] });
  await chain.waitForTransactionReceipt({ hash: mint });
  database = await createTestDatabase();
});

afterAll(async () => {
  await database?.close();
  await anvil?.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
});

function productionEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    DATABASE_URL: database.url,
    DATABASE_MIGRATION_URL: database.ownerUrl,
    RPC_URL: anvil.rpcUrl,
    CHAIN_ID: String(DEV_CHAIN_ID),
    TOKEN_ADDRESS: token,
    FACTORY_ADDRESS: deterministicFactoryAddress(),
    RELAYER_PRIVATE_KEY: relayerKey,
    JWT_PUBLIC_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    JWT_ISSUER: ISSUER,
    JWT_AUDIENCE: AUDIENCE,
    SECRETS_KEYS,
    PUBLIC_URL: 'https://pay.example.org',
    PORT: '0',
    CONFIRMATIONS: '2',
    WATCHER_POLL_MS: '200',
    DATA_DIR: path.join(workDir, 'data'),
    LOG_LEVEL: 'info',
    ...overrides,
  };
}

/** An ES256 token from the test's "identity provider". */
function tokenFor(role: string, clinicId?: string): string {
  return jwt.sign({ role, ...(clinicId ? { clinic_id: clinicId } : {}) }, signingKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
    algorithm: 'ES256',
    issuer: ISSUER,
    audience: AUDIENCE,
    subject: `person-${role}`,
    expiresIn: '1h',
    jwtid: randomBytes(8).toString('hex'),
  });
}

async function cli(args: string[], env: Record<string, string>) {
  const run = spawnClinicpay(args, env);
  const code = await run.exited;
  return { code, output: run.output() };
}

async function api(base: string, method: string, pathname: string, token: string, body?: unknown) {
  const response = await fetch(`${base}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'idempotency-key': randomBytes(8).toString('hex') },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('the migration job', () => {
  it('runs in production with only the database URLs: migrates as the owner and grants the app role, then has nothing to do', async () => {
    const adminUrl = new URL(inject('postgresAdminUrl'));
    const roles = inject('databaseRoles');
    const name = `empty_${randomBytes(6).toString('hex')}`;
    await ensureDatabase(adminUrl.toString(), name);
    adminUrl.pathname = `/${name}`;
    const { ownerUrl, appUrl } = await ensureDatabaseRoles(adminUrl.toString(), roles);
    const env = { NODE_ENV: 'production', DATABASE_URL: appUrl, DATABASE_MIGRATION_URL: ownerUrl };
    const first = await cli(['migrate'], env);
    expect(first.code, first.output).toBe(0);
    expect(first.output).toMatch(/^migrations applied: 20261127_0001_foundation, /m);
    const again = await cli(['migrate'], env);
    expect(again.output).toContain('migrations: up to date');
    const app = createDb({ connectionString: appUrl, poolMax: 1 });
    try {
      expect(await databaseRoleProblems(app)).toEqual([]);
      expect(await app('clinics').count({ n: '*' })).toEqual([{ n: '0' }]);
    } finally {
      await app.destroy();
    }
    for (const output of [first.output, again.output]) expect(output).not.toContain(roles.owner.password);
  });
});

describe('going live', () => {
  it('deploy, doctor, then a production gateway takes a payment end to end and forwards it', async () => {
    const keyFile = path.join(workDir, 'relayer.key');
    fs.writeFileSync(keyFile, relayerKey, { mode: 0o600 });
    const deployStarted = performance.now();
    const deployed = await cli(['deploy', '--rpc', anvil.rpcUrl, '--chain-id', String(DEV_CHAIN_ID), '--key-file', keyFile], {});
    const deploySeconds = (performance.now() - deployStarted) / 1000;
    expect(deployed.code, deployed.output).toBe(0);
    expect(deployed.output).toContain(`factory         ${deterministicFactoryAddress()}`);

    const gateway = await startGatewayProcess(productionEnv(), { timeoutMs: 90_000 });
    try {
      const doctor = await cli(['doctor'], productionEnv());
      console.log(`deploy took ${deploySeconds.toFixed(1)} s; doctor said:\n${doctor.output}`);
      expect(doctor.code, doctor.output).toBe(0);
      for (const check of [
        'config',
        'database',
        'migrations',
        'database role',
        'chain id',
        'token',
        'factory',
        'node synced',
        'archive access',
        'eth_getLogs range',
        'relayer',
        'jwt keys',
        'webhook egress',
        'public url',
        'sign-in',
      ]) {
        expect(doctor.output).toMatch(new RegExp(`^ok\\s+${check}\\s`, 'm'));
      }
      expect(doctor.output).not.toContain(relayerKey.slice(2));

      const admin = tokenFor('platform_admin');
      const clinic = await api(gateway.url, 'POST', '/v1/clinics', admin, { name: 'Harbour Clinic', settlement_address: clinicWallet });
      expect(clinic.status, JSON.stringify(clinic.body)).toBe(201);
      const staff = tokenFor('clinic_staff', clinic.body.id as string);
      const invoice = await api(gateway.url, 'POST', '/v1/invoices', staff, {
        patient_ref: 'PAT-1',
        currency: 'HKD',
        line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '480.00' }],
      });
      expect(invoice.status, JSON.stringify(invoice.body)).toBe(201);
      expect(invoice.body.checkout_url).toMatch(/^https:\/\/pay\.example\.org\/checkout\//);

      const payerWallet = createWalletClient({ account: payer, chain: foundry, transport: http(anvil.rpcUrl) });
      const paid = await payerWallet.writeContract({
        address: token,
        abi: erc20Abi,
        functionName: 'transfer',
        args: [invoice.body.deposit_address as Address, 480_000_000n],
      });
      await chain.waitForTransactionReceipt({ hash: paid });
      const testClient = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });
      await waitFor(
        async () => {
          await testClient.mine({ blocks: 1 });
          const read = await api(gateway.url, 'GET', `/v1/invoices/${invoice.body.id}`, staff);
          const forwarded = await chain.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [clinicWallet] });
          return read.body.status === 'paid' && forwarded === 480_000_000n;
        },
        { what: 'the payment to be final and forwarded to the clinic', timeoutMs: 60_000, intervalMs: 300 },
      );
      // On a young chain there is nothing final to reconcile yet: the scheduler says so once per interval, not every pass.
      expect(gateway.process.output().match(/scheduled reconciliation skipped/g)?.length ?? 0).toBeLessThanOrEqual(1);
    } finally {
      expect(await stopGatewayProcess(gateway.process)).toBe(0);
    }
  });

  it('doctor fails with the right line for a wrong chain id, a wrong token and a missing factory', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ CHAIN_ID: '1' }, /^FAIL chain id\s+the node serves chain 31337, not CHAIN_ID 1/m],
      [{ TOKEN_ADDRESS: owner.address }, /^FAIL token\s+no contract at TOKEN_ADDRESS/m],
      // The allow-list pins each token: the same address answering another symbol is not the issuer's token.
      [
        {
          TOKEN_ADDRESS: '',
          ACCEPTED_TOKENS: JSON.stringify([{ address: token, symbol: 'HKDX', decimals: 6, issuer: 'Issuer X', licence: 'SC-9', peg: 'HKD' }]),
        },
        /^FAIL token\s+0x[0-9a-fA-F]{40} answers hHKD with 6 decimals, but ACCEPTED_TOKENS pins HKDX with 6/m,
      ],
      [{ FACTORY_ADDRESS: token }, /^FAIL factory\s+the code at .* is not ClinicPay's deposit factory/m],
      [{ FACTORY_ADDRESS: privateKeyToAccount(generatePrivateKey()).address }, /^FAIL factory\s+no contract at FACTORY_ADDRESS/m],
      [{ PUBLIC_URL: 'http://pay.example.org' }, /^FAIL public url\s+PUBLIC_URL http:\/\/pay\.example\.org is not https/m],
      [
        { OIDC_ISSUER: 'https://127.0.0.1:9', OIDC_CLIENT_ID: 'clinicpay', OIDC_CLIENT_SECRET: 'a-secret-from-the-provider' },
        /^FAIL sign-in\s+https:\/\/127\.0\.0\.1:9\/\.well-known\/openid-configuration cannot be fetched/m,
      ],
    ];
    // Two at a time: each is a process of its own that reads the chain and the database.
    for (let start = 0; start < cases.length; start += 2) {
      const runs = await Promise.all(cases.slice(start, start + 2).map(([overrides]) => cli(['doctor'], productionEnv(overrides))));
      runs.forEach((run, index) => {
        expect(run.code, run.output).toBe(1);
        expect(run.output).toMatch(cases[start + index]![1]);
        expect(run.output).not.toMatch(/\n\s+at /);
      });
    }
  }, 90_000); // Seven doctor processes: 25-30 s one after another on two cores, about half two at a time.

  it('refuses a production start on a token other than the one its invoices were issued in, naming the mismatch', async () => {
    // The invoice the first test issued, in the 6-decimal token.
    expect(await database.db('invoices').distinct('token_decimals').pluck('token_decimals')).toEqual([6]);
    const run = await cli(['start'], productionEnv({ TOKEN_ADDRESS: otherToken }));
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/refusing to start: token: hHKD has 18 decimals, but invoices in the database were created for a token with 6/);
    const wrongPin = await cli(
      ['start'],
      productionEnv({
        TOKEN_ADDRESS: '',
        ACCEPTED_TOKENS: JSON.stringify([
          { address: token, symbol: 'hHKD', decimals: 6, issuer: 'Issuer A', licence: 'SC-1', peg: 'HKD' },
          { address: otherToken, symbol: 'hHKD', decimals: 6, issuer: 'Issuer B', licence: 'SC-2', peg: 'HKD' },
        ]),
      }),
    );
    expect(wrongPin.code).not.toBe(0);
    expect(wrongPin.output).toMatch(/refusing to start: token: 0x[0-9a-fA-F]{40} answers hHKD with 18 decimals, but ACCEPTED_TOKENS pins hHKD with 6/);
    const wrongChain = await cli(['start'], productionEnv({ CHAIN_ID: '10' }));
    expect(wrongChain.code).not.toBe(0);
    expect(wrongChain.output).toMatch(/refusing to start: chain id: the node serves chain 31337, not CHAIN_ID 10/);
  });
});
