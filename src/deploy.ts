/**
 * `npx clinicpay deploy`: puts the deposit factory on a chain through the deterministic
 * deployment proxy, so it has the same address on every EVM chain. It checks everything it can
 * before it sends anything (the chain, the proxy, the key's balance), sends at most one
 * transaction, and never prints the key or the RPC URL's path (which may hold an API key).
 */
import { concat, createWalletClient, formatEther, getAddress, type Hex, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { depositFactoryBytecode } from '../contracts/artifacts/DepositFactory.js';
import { createChainClient } from './chain/client.js';
import { CREATE2_DEPLOYER, deterministicFactoryAddress, EXPECTED_FACTORY_CODE_HASH, FACTORY_SALT } from './chain/depositAddress.js';
import { errorSummary } from './platform/log.js';
import { deployDepositFactoryDeterministically } from './settlement/depositFactory.js';

export interface DeployFactoryParameters {
  rpcUrl: string;
  /** The chain the operator means: anything else is refused before a transaction is sent. */
  chainId: number;
  privateKey: Hex;
  print(line: string): void;
}

/** Deploys (or finds) the factory; returns the exit status. */
export async function deployFactory({ rpcUrl, chainId, privateKey, print }: DeployFactoryParameters): Promise<number> {
  const started = performance.now();
  const node = new URL(rpcUrl).origin;
  const chain = createChainClient({ rpcUrl, timeoutMs: 15_000 });
  const account = privateKeyToAccount(privateKey);
  const fail = (reason: string) => {
    print(`FAIL ${reason}; nothing was sent`);
    return 1;
  };
  let served: number;
  try {
    served = await chain.getChainId();
  } catch (error) {
    return fail(`cannot reach the node at ${node} (${errorSummary(error).message})`);
  }
  if (served !== chainId) return fail(`the node at ${node} serves chain ${served}, not chain ${chainId}`);

  const factory = deterministicFactoryAddress();
  const existing = await chain.getCode({ address: factory });
  if (!existing || existing === '0x') {
    const proxy = await chain.getCode({ address: CREATE2_DEPLOYER });
    if (!proxy || proxy === '0x') {
      return fail(
        `chain ${chainId} has no deterministic deployment proxy at ${getAddress(CREATE2_DEPLOYER)}; deploy it first with its presigned transaction (docs/operations.md)`,
      );
    }
    const data = concat([FACTORY_SALT, depositFactoryBytecode]);
    const [gas, fees, balance] = await Promise.all([
      chain.estimateGas({ account: account.address, to: CREATE2_DEPLOYER, data }),
      chain.estimateFeesPerGas(),
      chain.getBalance({ address: account.address }),
    ]);
    const needed = gas * fees.maxFeePerGas;
    if (balance < needed) {
      return fail(
        `the deploying account ${account.address} holds ${formatEther(balance)} in gas money; the deployment needs about ${formatEther(needed)} (${gas} gas)`,
      );
    }
  }

  const wallet = createWalletClient({ account, transport: http(rpcUrl, { timeout: 120_000, retryCount: 0 }) });
  const deployed = await deployDepositFactoryDeterministically({ wallet, publicClient: chain });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (deployed.codeHash !== EXPECTED_FACTORY_CODE_HASH) {
    print(`FAIL the code at ${deployed.factory} has hash ${deployed.codeHash}, not ClinicPay's ${EXPECTED_FACTORY_CODE_HASH}`);
    return 1;
  }
  print(deployed.alreadyDeployed ? `already deployed on chain ${chainId}: nothing was sent` : `deployed on chain ${chainId}`);
  print(`factory         ${deployed.factory}`);
  print(`implementation  ${deployed.implementation}`);
  print(`code hash       ${deployed.codeHash}`);
  if (!deployed.alreadyDeployed) print(`block           ${deployed.blockNumber} (transaction ${deployed.txHash})`);
  print(`took            ${seconds} s`);
  print(`set FACTORY_ADDRESS=${deployed.factory}`);
  return 0;
}
