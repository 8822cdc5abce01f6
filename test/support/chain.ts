/**
 * Chain helpers for tests on the run's shared anvil. Every test gets its own freshly generated,
 * freshly funded account, so files sending transactions in parallel never fight over nonces.
 */
import {
  type Account,
  type Address,
  createPublicClient,
  createTestClient,
  createWalletClient,
  http,
  type PublicClient,
  parseEther,
  type WalletClient,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { inject } from 'vitest';
import { testHKDAbi, testHKDBytecode } from '../../contracts/artifacts/TestHKD.js';

export interface TestChain {
  rpcUrl: string;
  publicClient: PublicClient;
  testClient: ReturnType<typeof createTestClient>;
}

export function testChain(rpcUrl = inject('rpcUrl')): TestChain {
  return {
    rpcUrl,
    publicClient: createPublicClient({ chain: foundry, transport: http(rpcUrl) }),
    testClient: createTestClient({ chain: foundry, mode: 'anvil', transport: http(rpcUrl) }),
  };
}

export interface FundedAccount {
  account: Account;
  address: Address;
  privateKey: `0x${string}`;
  wallet: WalletClient<ReturnType<typeof http>, typeof foundry, Account>;
}

/** A new account with 1000 ETH for gas, through anvil's cheat code. */
export async function fundedAccount(chain: TestChain = testChain()): Promise<FundedAccount> {
  const privateKey = generatePrivateKey();
  const account = privateKeyToAccount(privateKey);
  await chain.testClient.setBalance({ address: account.address, value: parseEther('1000') });
  const wallet = createWalletClient({ account, chain: foundry, transport: http(chain.rpcUrl) });
  return { account, address: account.address, privateKey, wallet };
}

/** Deploys a TestHKD token owned by `owner` with the given number of decimals. */
export async function deployTestToken(chain: TestChain, owner: FundedAccount, decimals = 6, symbol = 'tHKD'): Promise<Address> {
  const hash = await owner.wallet.deployContract({ abi: testHKDAbi, bytecode: testHKDBytecode, args: ['Test HKD', symbol, decimals, owner.address] });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
  if (!receipt.contractAddress) throw new Error('token deployment failed');
  return receipt.contractAddress;
}

/** Mints `amount` base units of `token` to `to`. */
export async function mint(chain: TestChain, owner: FundedAccount, token: Address, to: Address, amount: bigint): Promise<void> {
  const hash = await owner.wallet.writeContract({ address: token, abi: testHKDAbi, functionName: 'mint', args: [to, amount] });
  await chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 });
}
