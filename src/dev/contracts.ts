/**
 * Deploys the dev stack's contracts once and finds them again on restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createTestClient, createWalletClient, getContractAddress, http, parseEther, parseUnits, type Address, type PrivateKeyAccount } from 'viem';
import { testHKDAbi, testHKDBytecode } from '../../contracts/artifacts/TestHKD.js';
import type { ChainClient } from '../chain/client.js';

export const DEV_TOKEN = { name: 'Test HKD Stablecoin', symbol: 'tHKD', decimals: 6 } as const;
/** What each dev payer holds after the first start: plenty for manual testing. */
const PAYER_FUNDING = parseUnits('1000000', DEV_TOKEN.decimals);

export interface DevDeployments {
  chain_id: number;
  token: Address;
}

export interface EnsureDevContractsParameters {
  chain: ChainClient;
  rpcUrl: string;
  chainId: number;
  deployer: PrivateKeyAccount;
  payers: readonly Address[];
  /** Where the addresses of an earlier deployment are recorded. */
  recordFile: string;
}

const GAS_FUNDING = parseEther('10000');

/** Tops up the native balance (for gas) of dev accounts that run low, through anvil's cheat code. */
export async function fundWithGas(rpcUrl: string, chain: ChainClient, addresses: readonly Address[]): Promise<void> {
  const testClient = createTestClient({ mode: 'anvil', transport: http(rpcUrl) });
  for (const address of addresses) {
    if ((await chain.getBalance({ address })) < GAS_FUNDING / 100n) await testClient.setBalance({ address, value: GAS_FUNDING });
  }
}

/**
 * Returns the recorded deployment when its code is still on the chain; otherwise deploys the
 * test token, funds the payers, and records the new addresses.
 */
export async function ensureDevContracts(params: EnsureDevContractsParameters): Promise<DevDeployments> {
  const { chain, deployer, recordFile } = params;
  await fundWithGas(params.rpcUrl, chain, [deployer.address, ...params.payers]);
  if (fs.existsSync(recordFile)) {
    const recorded = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as DevDeployments;
    const code = recorded.chain_id === params.chainId ? await chain.getCode({ address: recorded.token }) : undefined;
    if (code && code !== '0x') return recorded;
  }
  const wallet = createWalletClient({ account: deployer, transport: http(params.rpcUrl) });
  // Explicit nonces let the deployment and every mint go into the same block instead of one
  // block each (seconds apart on the dev chain).
  const nonce = await chain.getTransactionCount({ address: deployer.address, blockTag: 'pending' });
  const token = getContractAddress({ from: deployer.address, nonce: BigInt(nonce) });
  const hashes = [
    await wallet.deployContract({
      abi: testHKDAbi,
      bytecode: testHKDBytecode,
      args: [DEV_TOKEN.name, DEV_TOKEN.symbol, DEV_TOKEN.decimals, deployer.address],
      chain: null,
      nonce,
    }),
  ];
  for (const [offset, payer] of params.payers.entries()) {
    hashes.push(
      await wallet.writeContract({ address: token, abi: testHKDAbi, functionName: 'mint', args: [payer, PAYER_FUNDING], chain: null, nonce: nonce + 1 + offset, gas: 100_000n }),
    );
  }
  const receipts = await Promise.all(hashes.map((hash) => chain.waitForTransactionReceipt({ hash, pollingInterval: 100 })));
  if (receipts.some((receipt) => receipt.status !== 'success')) throw new Error('deploying the test token or funding the payers failed');
  const deployments: DevDeployments = { chain_id: params.chainId, token };
  fs.mkdirSync(path.dirname(recordFile), { recursive: true });
  fs.writeFileSync(recordFile, `${JSON.stringify(deployments, null, 2)}\n`);
  return deployments;
}
