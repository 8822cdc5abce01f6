/**
 * Reads what the gateway needs to know about its chain once at start-up: the chain id, each
 * accepted token's symbol and decimals (checked against the allow-list's pins), and the
 * factory's forwarder implementation.
 */
import { type Address, erc20Abi, getAddress } from 'viem';
import { depositFactoryAbi } from '../../contracts/artifacts/DepositFactory.js';
import type { AcceptedTokenConfig } from '../platform/config.js';
import { waitFor } from '../platform/waitFor.js';
import type { ChainClient } from './client.js';

/** An accepted token as the chain describes it, with its issuer where the allow-list names one. */
export interface AcceptedToken {
  address: Address;
  symbol: string;
  decimals: number;
  /** The licensed issuer; null for a token configured by TOKEN_ADDRESS alone. */
  issuer: string | null;
  licence: string | null;
  peg: 'HKD';
  /** How its issuer freezes addresses, when the allow-list says. */
  freeze: { view: string; event: string } | null;
}

/** The chain, tokens and contracts invoices are paid through. */
export interface PaymentNetwork {
  chainId: number;
  /** The token invoices are priced in: the first of `tokens`. */
  token: AcceptedToken;
  /** Every accepted token, the pricing one first. A transfer of any other token is never credited. */
  tokens: readonly AcceptedToken[];
  factory: Address;
  forwarderImplementation: Address;
  /** The on-chain sanctions oracle payers are also screened by, when one is configured. */
  sanctionsOracle: Address | null;
  /**
   * Multicall3, through which reconciliation reads balances in batches, when one is configured.
   * Not checked here: each run checks it has code at the run's block, and reads one by one if not.
   */
  multicall3: Address | null;
}

/** Chainalysis's sanctions oracle interface. */
export const sanctionsOracleAbi = [
  { type: 'function', name: 'isSanctioned', stateMutability: 'view', inputs: [{ name: 'addr', type: 'address' }], outputs: [{ type: 'bool' }] },
] as const;

export interface LoadPaymentNetworkParameters {
  chain: ChainClient;
  /** The allow-list, pinned; or one token address, described by the chain as it is. */
  tokens: readonly AcceptedTokenConfig[] | Address;
  factory: Address;
  /** A sanctions oracle to check: it must have code and answer `isSanctioned`. */
  sanctionsOracle?: Address | undefined;
  /** Multicall3's address (MULTICALL3_ADDRESS); undefined: none. */
  multicall3?: Address | undefined;
  /** How long to keep asking a node that does not answer yet. */
  timeoutMs: number;
}

/** An accepted token on the chain is not what the allow-list pins: the gateway must not start. */
export class TokenPinError extends Error {
  override readonly name = 'TokenPinError';
}

/**
 * Describes the tokens and factory, retrying while the node is unreachable; throws
 * {@link TokenPinError} when a pinned token has no code or answers another symbol or decimals.
 */
export async function loadPaymentNetwork({
  chain,
  tokens,
  factory,
  sanctionsOracle,
  multicall3,
  timeoutMs,
}: LoadPaymentNetworkParameters): Promise<PaymentNetwork> {
  const pins: readonly (AcceptedTokenConfig | { address: Address })[] = typeof tokens === 'string' ? [{ address: tokens }] : tokens;
  const described = await waitFor(
    async () => {
      const [chainId, implementation, ...each] = await Promise.all([
        chain.getChainId(),
        chain.readContract({ address: factory, abi: depositFactoryAbi, functionName: 'implementation' }),
        ...pins.map(async (pin) => {
          const code = await chain.getCode({ address: pin.address });
          if (code === undefined || code === '0x') return { pin, code: false as const };
          const [symbol, decimals] = await Promise.all([
            chain.readContract({ address: pin.address, abi: erc20Abi, functionName: 'symbol' }),
            chain.readContract({ address: pin.address, abi: erc20Abi, functionName: 'decimals' }),
          ]);
          return { pin, code: true as const, symbol, decimals };
        }),
      ]);
      return { chainId: chainId as number, implementation: implementation as Address, each: each as TokenReading[] };
    },
    { what: 'the RPC node to describe the tokens and the deposit factory', timeoutMs, intervalMs: 1000 },
  );
  const accepted = described.each.map((reading) => acceptedToken(reading, described.chainId));
  if (sanctionsOracle !== undefined) await checkOracle(chain, sanctionsOracle, described.chainId);
  return {
    chainId: described.chainId,
    token: accepted[0]!,
    tokens: accepted,
    factory: getAddress(factory),
    forwarderImplementation: getAddress(described.implementation),
    sanctionsOracle: sanctionsOracle === undefined ? null : getAddress(sanctionsOracle),
    multicall3: multicall3 === undefined ? null : getAddress(multicall3),
  };
}

/** The oracle must be a contract answering `isSanctioned`; otherwise payments would all wait for it. */
async function checkOracle(chain: ChainClient, oracle: Address, chainId: number): Promise<void> {
  const code = await chain.getCode({ address: oracle });
  if (code === undefined || code === '0x') throw new TokenPinError(`no contract at SANCTIONS_ORACLE_ADDRESS ${getAddress(oracle)} on chain ${chainId}`);
  try {
    await chain.readContract({ address: oracle, abi: sanctionsOracleAbi, functionName: 'isSanctioned', args: [oracle] });
  } catch (error) {
    throw new TokenPinError(
      `the contract at SANCTIONS_ORACLE_ADDRESS ${getAddress(oracle)} does not answer isSanctioned(address): ${(error as Error).message.split('\n')[0]}`,
    );
  }
}

type TokenReading =
  | { pin: AcceptedTokenConfig | { address: Address }; code: false }
  | { pin: AcceptedTokenConfig | { address: Address }; code: true; symbol: string; decimals: number };

function acceptedToken(reading: TokenReading, chainId: number): AcceptedToken {
  const address = getAddress(reading.pin.address);
  if (!reading.code) throw new TokenPinError(`no contract at ${address} on chain ${chainId}: take the token's address from its issuer's own list`);
  const pinned = 'symbol' in reading.pin ? reading.pin : undefined;
  if (pinned && (pinned.symbol !== reading.symbol || pinned.decimals !== reading.decimals)) {
    throw new TokenPinError(
      `the token at ${address} answers ${reading.symbol} with ${reading.decimals} decimals, but ACCEPTED_TOKENS pins ${pinned.symbol} with ${pinned.decimals}: it is not the issuer's token, or the pin is wrong`,
    );
  }
  return {
    address,
    symbol: reading.symbol,
    decimals: reading.decimals,
    issuer: pinned?.issuer ?? null,
    licence: pinned?.licence ?? null,
    peg: 'HKD',
    freeze: pinned?.freeze ?? null,
  };
}

/** The accepted token at `address` (any case), if it is on the list. */
export function acceptedTokenAt(network: Pick<PaymentNetwork, 'tokens'>, address: string): AcceptedToken | undefined {
  const wanted = address.toLowerCase();
  return network.tokens.find((token) => token.address.toLowerCase() === wanted);
}
