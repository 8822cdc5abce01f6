/**
 * Reads what the gateway needs to know about its chain once at start-up: the chain id, the
 * token's symbol and decimals, and the factory's forwarder implementation.
 */
import { type Address, erc20Abi, getAddress } from 'viem';
import { depositFactoryAbi } from '../../contracts/artifacts/DepositFactory.js';
import { waitFor } from '../platform/waitFor.js';
import type { ChainClient } from './client.js';

/** The chain, token and contracts invoices are paid through. */
export interface PaymentNetwork {
  chainId: number;
  token: { address: Address; symbol: string; decimals: number };
  factory: Address;
  forwarderImplementation: Address;
}

export interface LoadPaymentNetworkParameters {
  chain: ChainClient;
  token: Address;
  factory: Address;
  /** How long to keep asking a node that does not answer yet. */
  timeoutMs: number;
}

/** Describes the token and factory, retrying while the node is unreachable. */
export async function loadPaymentNetwork({ chain, token, factory, timeoutMs }: LoadPaymentNetworkParameters): Promise<PaymentNetwork> {
  return waitFor(
    async () => {
      const [chainId, symbol, decimals, implementation] = await Promise.all([
        chain.getChainId(),
        chain.readContract({ address: token, abi: erc20Abi, functionName: 'symbol' }),
        chain.readContract({ address: token, abi: erc20Abi, functionName: 'decimals' }),
        chain.readContract({ address: factory, abi: depositFactoryAbi, functionName: 'implementation' }),
      ]);
      return {
        chainId,
        token: { address: getAddress(token), symbol, decimals },
        factory: getAddress(factory),
        forwarderImplementation: getAddress(implementation),
      };
    },
    { what: 'the RPC node to describe the token and the deposit factory', timeoutMs, intervalMs: 1000 },
  );
}
