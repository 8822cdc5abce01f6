/**
 * Deploying the deposit factory and sweeping deposit addresses through it
 * (docs/decisions/0001-create2-forwarders.md). The callers own the viem clients; nothing here
 * reads configuration.
 */
import {
  type Account,
  type Address,
  type Chain,
  concat,
  getAddress,
  type Hex,
  keccak256,
  type PublicClient,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem';
import { depositFactoryAbi, depositFactoryBytecode } from '../../contracts/artifacts/DepositFactory.js';
import { CREATE2_DEPLOYER, deterministicFactoryAddress, FACTORY_SALT } from '../chain/depositAddress.js';

/** A wallet client with an account attached: the key that pays gas (deployer or relayer). */
export type SendingWallet = WalletClient<Transport, Chain | undefined, Account>;

export interface DeployDepositFactoryParameters {
  wallet: SendingWallet;
  publicClient: PublicClient;
}

export interface DeployDepositFactoryReturnType {
  factory: Address;
  /** The `DepositForwarder` the factory deployed in its constructor; needed to predict addresses. */
  implementation: Address;
}

/**
 * Deploys a `DepositFactory` (which deploys its `DepositForwarder` implementation in the same
 * transaction) and waits for the receipt.
 *
 * @throws When the deployment transaction reverts.
 *
 * @example
 * const { factory, implementation } = await deployDepositFactory({ wallet, publicClient });
 * const depositAddress = predictDepositAddress({ factory, implementation, destination, salt });
 */
export async function deployDepositFactory({ wallet, publicClient }: DeployDepositFactoryParameters): Promise<DeployDepositFactoryReturnType> {
  const hash = await wallet.deployContract({ abi: depositFactoryAbi, bytecode: depositFactoryBytecode, chain: wallet.chain ?? null });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error(`deploying the deposit factory failed (transaction ${hash})`);
  const factory = getAddress(receipt.contractAddress);
  const implementation = await publicClient.readContract({ address: factory, abi: depositFactoryAbi, functionName: 'implementation' });
  return { factory, implementation };
}

export interface DeterministicDeployment {
  factory: Address;
  implementation: Address;
  /** keccak256 of the factory's runtime code, which `doctor` compares. */
  codeHash: Hex;
  /** The deployment's transaction and block; undefined when the factory was there already. */
  txHash: Hex | undefined;
  blockNumber: bigint | undefined;
  alreadyDeployed: boolean;
}

/**
 * Deploys the factory through {@link CREATE2_DEPLOYER} with {@link FACTORY_SALT}, unless it is
 * there already (then nothing is sent). The caller checks the chain and the wallet's balance.
 *
 * @throws When the proxy is not on the chain, or the deployment reverts or leaves no code.
 */
export async function deployDepositFactoryDeterministically({ wallet, publicClient }: DeployDepositFactoryParameters): Promise<DeterministicDeployment> {
  const factory = deterministicFactoryAddress();
  const existing = await publicClient.getCode({ address: factory });
  if (existing && existing !== '0x') {
    return {
      factory,
      implementation: await implementationOf(publicClient, factory),
      codeHash: keccak256(existing),
      txHash: undefined,
      blockNumber: undefined,
      alreadyDeployed: true,
    };
  }
  const proxy = await publicClient.getCode({ address: CREATE2_DEPLOYER });
  if (!proxy || proxy === '0x') {
    throw new Error(
      `the deterministic deployment proxy is not on this chain (no code at ${getAddress(CREATE2_DEPLOYER)}); deploy it first with its presigned transaction`,
    );
  }
  const txHash = await wallet.sendTransaction({ to: CREATE2_DEPLOYER, data: concat([FACTORY_SALT, depositFactoryBytecode]), chain: wallet.chain ?? null });
  const receipt = await publicClient.waitForTransactionReceipt({ hash: txHash });
  const code = await publicClient.getCode({ address: factory });
  if (receipt.status !== 'success' || !code || code === '0x') throw new Error(`deploying the deposit factory failed (transaction ${txHash})`);
  return {
    factory,
    implementation: await implementationOf(publicClient, factory),
    codeHash: keccak256(code),
    txHash,
    blockNumber: receipt.blockNumber,
    alreadyDeployed: false,
  };
}

function implementationOf(publicClient: PublicClient, factory: Address): Promise<Address> {
  return publicClient.readContract({ address: factory, abi: depositFactoryAbi, functionName: 'implementation' });
}

/** One deposit address to sweep, as the gateway stores it with the invoice. */
export interface Deposit {
  destination: Address;
  salt: Hex;
}

/**
 * Most deposits per `flushMany` transaction. A first flush costs about 57,000 to 62,000 gas per
 * deposit (bench/gas.ts), so 100 stay near 6M gas, well inside a block, and one bad item
 * cannot make a larger batch revert.
 */
export const MAX_FLUSH_BATCH = 100;

export interface FlushDepositsParameters {
  wallet: SendingWallet;
  publicClient: PublicClient;
  factory: Address;
  /** The ERC-20 to forward; one token per transaction. */
  token: Address;
  /** 1 to `MAX_FLUSH_BATCH` deposit addresses, deployed or not. */
  deposits: readonly Deposit[];
}

export type FlushDepositsReturnType = TransactionReceipt;

/**
 * Sweeps deposit addresses in one `flushMany` transaction: deploys each forwarder that is not
 * deployed yet and forwards its whole `token` balance to its destination. Repeating it is safe
 * (an empty deposit forwards nothing). Resolves with the receipt once mined, whatever its
 * `status`, so the caller can record `gasUsed` and decide on a retry.
 *
 * @throws When `deposits` is empty or longer than `MAX_FLUSH_BATCH`, or when the node rejects the
 *         transaction (e.g. gas estimation finds that it would revert).
 *
 * @example
 * const receipt = await flushDeposits({ wallet: relayer, publicClient, factory, token, deposits: [{ destination, salt }] });
 * if (receipt.status !== 'success') ...
 */
export async function flushDeposits(params: FlushDepositsParameters): Promise<FlushDepositsReturnType> {
  const { wallet, publicClient, factory, token, deposits } = params;
  if (deposits.length === 0 || deposits.length > MAX_FLUSH_BATCH) {
    throw new RangeError(`a flush takes 1 to ${MAX_FLUSH_BATCH} deposits, got ${deposits.length}`);
  }
  const hash = await wallet.writeContract({
    address: factory,
    abi: depositFactoryAbi,
    functionName: 'flushMany',
    args: [token, deposits.map((deposit) => deposit.destination), deposits.map((deposit) => deposit.salt)],
    chain: wallet.chain ?? null,
  });
  return publicClient.waitForTransactionReceipt({ hash });
}

export interface SimulateFlushParameters {
  publicClient: PublicClient;
  /** Who would send it: the relayer. */
  account: Account | Address;
  factory: Address;
  token: Address;
  deposit: Deposit;
}

/**
 * Runs `flush` of one deposit as a call (nothing is sent): resolves when it would succeed now,
 * throws the revert when it would not. Finds the one bad item of a batch that reverted.
 */
export async function simulateFlush({ publicClient, account, factory, token, deposit }: SimulateFlushParameters): Promise<void> {
  await publicClient.simulateContract({
    account,
    address: factory,
    abi: depositFactoryAbi,
    functionName: 'flush',
    args: [token, deposit.destination, deposit.salt],
  });
}
