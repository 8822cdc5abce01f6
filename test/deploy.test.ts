/**
 * `npx clinicpay deploy` as an operator runs it, against fresh anvils standing in for real
 * chains: the factory lands at the same address on each, through the deterministic deployment
 * proxy, a second run sends nothing, and every refusal (wrong chain, unfunded key, a key file
 * others can read, no proxy) says why and sends nothing. The key never reaches the output.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestClient, http, keccak256 } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositFactoryAbi } from '../contracts/artifacts/DepositFactory.js';
import { createChainClient } from '../src/chain/client.js';
import { CREATE2_DEPLOYER, deterministicFactoryAddress, EXPECTED_FACTORY_CODE_HASH } from '../src/chain/depositAddress.js';
import { type Anvil, DEV_CHAIN_ID, startAnvil } from '../src/dev/anvil.js';
import { spawnClinicpay } from './support/gatewayProcess.js';

let workDir: string;
const anvils: Anvil[] = [];

beforeAll(() => {
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-deploy-'));
});

afterAll(async () => {
  for (const anvil of anvils) await anvil.stop();
  fs.rmSync(workDir, { recursive: true, force: true });
});

async function freshChain(): Promise<Anvil> {
  const anvil = await startAnvil({ logFile: path.join(workDir, `anvil-${anvils.length}.log`) });
  anvils.push(anvil);
  return anvil;
}

/** A key file of mode `mode` holding a new key, funded on `anvil` unless told. */
async function keyFile(anvil: Anvil, { mode = 0o600, funded = true } = {}): Promise<{ file: string; key: string; address: string }> {
  const key = generatePrivateKey();
  const address = privateKeyToAccount(key).address;
  if (funded) await createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) }).setBalance({ address, value: 10n ** 18n });
  const file = path.join(workDir, `key-${address}`);
  fs.writeFileSync(file, `${key}\n`, { mode });
  fs.chmodSync(file, mode);
  return { file, key, address };
}

async function deploy(args: string[], env: Record<string, string> = {}) {
  const cli = spawnClinicpay(['deploy', ...args], { NODE_ENV: 'production', ...env });
  const code = await cli.exited;
  return { code, output: cli.output() };
}

async function transactionCount(anvil: Anvil, address: string): Promise<number> {
  return createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 }).getTransactionCount({ address: address as `0x${string}` });
}

describe('npx clinicpay deploy', () => {
  it('puts the factory at the same address on two chains, and a second run sends nothing', async () => {
    const first = await freshChain();
    const second = await freshChain();
    const expected = deterministicFactoryAddress();
    for (const anvil of [first, second]) {
      const key = await keyFile(anvil);
      const started = performance.now();
      const run = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', String(DEV_CHAIN_ID), '--key-file', key.file]);
      const ms = performance.now() - started;
      expect(run.code, run.output).toBe(0);
      expect(run.output).toContain(`deployed on chain ${DEV_CHAIN_ID}`);
      expect(run.output).toContain(`factory         ${expected}`);
      expect(run.output).toContain(`code hash       ${EXPECTED_FACTORY_CODE_HASH}`);
      expect(run.output).toMatch(/block\s+\d+ \(transaction 0x[0-9a-f]{64}\)/);
      expect(run.output).not.toContain(key.key.slice(2));
      console.log(`deploy on a fresh chain: ${(ms / 1000).toFixed(1)} s including the process start`);

      const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 });
      const code = await chain.getCode({ address: expected });
      expect(keccak256(code!)).toBe(EXPECTED_FACTORY_CODE_HASH);
      const implementation = await chain.readContract({ address: expected, abi: depositFactoryAbi, functionName: 'implementation' });
      expect(run.output).toContain(`implementation  ${implementation}`);

      // Again, with another key: it is there, nothing is sent.
      const other = await keyFile(anvil);
      const again = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', String(DEV_CHAIN_ID), '--key-file', other.file]);
      expect(again.code, again.output).toBe(0);
      expect(again.output).toContain('already deployed');
      expect(again.output).toContain(`factory         ${expected}`);
      expect(await transactionCount(anvil, other.address)).toBe(0);
    }
  });

  it('refuses another chain, an unfunded key, a key file others can read, and a chain without the proxy, sending nothing', async () => {
    const anvil = await freshChain();
    const chain = createChainClient({ rpcUrl: anvil.rpcUrl, timeoutMs: 5000 });
    const factory = deterministicFactoryAddress();

    const key = await keyFile(anvil);
    const wrongChain = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', '1', '--key-file', key.file]);
    expect(wrongChain.code).toBe(1);
    expect(wrongChain.output).toContain(`serves chain ${DEV_CHAIN_ID}, not chain 1; nothing was sent`);

    const poor = await keyFile(anvil, { funded: false });
    const unfunded = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', String(DEV_CHAIN_ID), '--key-file', poor.file]);
    expect(unfunded.code).toBe(1);
    expect(unfunded.output).toMatch(
      new RegExp(`the deploying account ${poor.address} holds 0 in gas money; the deployment needs about [0-9.]+ \\(\\d+ gas\\); nothing was sent`),
    );

    const shared = await keyFile(anvil, { mode: 0o644 });
    const readable = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', String(DEV_CHAIN_ID), '--key-file', shared.file]);
    expect(readable.code).toBe(2);
    expect(readable.output).toContain('can be read by other users (mode 644); chmod 600 it first');

    const noChainId = await deploy(['--rpc', anvil.rpcUrl, '--key-file', key.file]);
    expect(noChainId.code).toBe(2);
    expect(noChainId.output).toContain('--chain-id');

    // A chain without the proxy (removed here through anvil's cheat code).
    await createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) }).setCode({ address: CREATE2_DEPLOYER, bytecode: '0x' });
    const noProxy = await deploy(['--rpc', anvil.rpcUrl, '--chain-id', String(DEV_CHAIN_ID), '--key-file', key.file]);
    expect(noProxy.code).toBe(1);
    expect(noProxy.output).toContain('has no deterministic deployment proxy');

    for (const { output } of [wrongChain, unfunded, readable, noProxy]) {
      expect(output).not.toContain(key.key.slice(2));
      expect(output).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect(await chain.getCode({ address: factory })).toBeUndefined();
    for (const account of [key, poor, shared]) expect(await transactionCount(anvil, account.address)).toBe(0);
  });
});
