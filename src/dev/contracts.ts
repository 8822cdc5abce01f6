/**
 * Deploys the dev stack's contracts once and finds them again on restart.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Account,
  type Address,
  concat,
  createTestClient,
  createWalletClient,
  getContractAddress,
  type Hex,
  http,
  multicall3Abi,
  type PrivateKeyAccount,
  parseEther,
  parseUnits,
} from 'viem';
import { depositFactoryBytecode } from '../../contracts/artifacts/DepositFactory.js';
import { testHKDAbi, testHKDBytecode } from '../../contracts/artifacts/TestHKD.js';
import { testSanctionsOracleAbi, testSanctionsOracleBytecode } from '../../contracts/artifacts/TestSanctionsOracle.js';
import type { ChainClient } from '../chain/client.js';
import { CREATE2_DEPLOYER, deterministicFactoryAddress, FACTORY_SALT } from '../chain/depositAddress.js';
import { type AcceptedTokenConfig, CANONICAL_MULTICALL3 } from '../platform/config.js';

/**
 * The dev chain's two HKD test tokens from two test "issuers", with 6 and 18 decimals, so that
 * every path is exercised with both scales. Both have the freeze functions a regulated issuer's
 * token has. Invoices are priced in the first.
 */
export const DEV_TOKENS = [
  { name: 'Test HKD Stablecoin', symbol: 'tHKD', decimals: 6, issuer: 'Harbour Test Issuer Ltd (dev)', licence: 'DEV-SC-0001' },
  { name: 'Test HKD Stablecoin B', symbol: 'tHKDB', decimals: 18, issuer: 'Lion Rock Test Issuer Ltd (dev)', licence: 'DEV-SC-0002' },
] as const;
export const DEV_TOKEN = DEV_TOKENS[0];
/** What each dev payer holds of each token after the first start: plenty for manual testing. */
const PAYER_FUNDING_HKD = '1000000';

export interface DevDeployments {
  chain_id: number;
  /** The pricing token: the first of `tokens`. */
  token: Address;
  /** Every dev token, in the order of {@link DEV_TOKENS}. */
  tokens: Address[];
  factory: Address;
  /** A test sanctions oracle (Chainalysis's interface) that lists nobody until told to. */
  oracle: Address;
  /** Multicall3, at its canonical address as on most chains: reconciliation reads balances through it. */
  multicall3: Address;
}

/** The dev tokens as the allow-list pins them. */
export function devAcceptedTokens(deployments: DevDeployments): AcceptedTokenConfig[] {
  return DEV_TOKENS.map(({ symbol, decimals, issuer, licence }, index) => ({
    address: deployments.tokens[index]!,
    symbol,
    decimals,
    issuer,
    licence,
    peg: 'HKD',
  }));
}

export interface EnsureDevContractsParameters {
  chain: ChainClient;
  rpcUrl: string;
  chainId: number;
  deployer: PrivateKeyAccount;
  payers: readonly Address[];
  /** Accounts that need native currency for gas (relayer, clinic wallet). */
  gasAccounts: readonly Address[];
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

async function hasCode(chain: ChainClient, address: Address | undefined): Promise<boolean> {
  if (!address) return false;
  const code = await chain.getCode({ address });
  return code !== undefined && code !== '0x';
}

/**
 * Returns the recorded deployment where its code is still on the chain; deploys what is missing
 * (the test tokens, funding the payers, the oracle, the deposit factory and Multicall3) and
 * records the addresses.
 */
export async function ensureDevContracts(params: EnsureDevContractsParameters): Promise<DevDeployments> {
  const { chain, deployer, recordFile } = params;
  await fundWithGas(params.rpcUrl, chain, [deployer.address, ...params.payers, ...params.gasAccounts]);
  const recorded: Partial<DevDeployments> =
    fs.existsSync(recordFile) && (JSON.parse(fs.readFileSync(recordFile, 'utf8')) as DevDeployments).chain_id === params.chainId
      ? (JSON.parse(fs.readFileSync(recordFile, 'utf8')) as DevDeployments)
      : {};
  const tokensOk = await Promise.all(DEV_TOKENS.map((_, index) => hasCode(chain, recorded.tokens?.[index])));
  const factoryOk = recorded.factory === deterministicFactoryAddress() && (await hasCode(chain, recorded.factory));
  const oracleOk = await hasCode(chain, recorded.oracle);
  const multicallOk = await hasCode(chain, CANONICAL_MULTICALL3);
  if (tokensOk.every(Boolean) && factoryOk && oracleOk && multicallOk) return { ...(recorded as DevDeployments), multicall3: CANONICAL_MULTICALL3 };

  const wallet = createWalletClient({ account: deployer, transport: http(params.rpcUrl) });
  // Explicit nonces put every deployment and mint into the same block instead of one block
  // each (seconds apart on the dev chain).
  let nonce = await chain.getTransactionCount({ address: deployer.address, blockTag: 'pending' });
  const hashes: Hex[] = [];
  const tokens: Address[] = [];
  for (const [index, devToken] of DEV_TOKENS.entries()) {
    if (tokensOk[index]) {
      tokens.push(recorded.tokens![index]!);
      continue;
    }
    const token = getContractAddress({ from: deployer.address, nonce: BigInt(nonce) });
    tokens.push(token);
    hashes.push(
      await wallet.deployContract({
        abi: testHKDAbi,
        bytecode: testHKDBytecode,
        args: [devToken.name, devToken.symbol, devToken.decimals, deployer.address],
        chain: null,
        nonce: nonce++,
      }),
    );
    for (const payer of params.payers) {
      hashes.push(
        await wallet.writeContract({
          address: token,
          abi: testHKDAbi,
          functionName: 'mint',
          args: [payer, parseUnits(PAYER_FUNDING_HKD, devToken.decimals)],
          chain: null,
          nonce: nonce++,
          gas: 100_000n,
        }),
      );
    }
  }
  let oracle = recorded.oracle!;
  if (!oracleOk) {
    oracle = getContractAddress({ from: deployer.address, nonce: BigInt(nonce) });
    hashes.push(
      await wallet.deployContract({
        abi: testSanctionsOracleAbi,
        bytecode: testSanctionsOracleBytecode,
        args: [deployer.address],
        chain: null,
        nonce: nonce++,
      }),
    );
  }
  // The factory goes where `npx clinicpay deploy` puts it on a real chain: through the
  // deterministic deployment proxy, which anvil has from the start.
  const factory = deterministicFactoryAddress();
  if (!(await hasCode(chain, factory))) {
    hashes.push(
      await wallet.sendTransaction({
        to: CREATE2_DEPLOYER,
        data: concat([FACTORY_SALT, depositFactoryBytecode]),
        chain: null,
        nonce: nonce++,
        gas: 5_000_000n,
      }),
    );
  }
  // Deployed in the same block as the rest, then moved to its canonical address.
  let multicallDeployment: Address | undefined;
  if (!multicallOk) {
    multicallDeployment = getContractAddress({ from: deployer.address, nonce: BigInt(nonce) });
    hashes.push(await wallet.deployContract({ abi: multicall3Abi, bytecode: await multicall3Bytecode(), chain: null, nonce: nonce++ }));
  }
  const receipts = await Promise.all(hashes.map((hash) => chain.waitForTransactionReceipt({ hash, pollingInterval: 100 })));
  if (receipts.some((receipt) => receipt.status !== 'success')) throw new Error('deploying the dev contracts or funding the payers failed');
  if (multicallDeployment) await moveToCanonicalMulticall3(params.rpcUrl, chain, multicallDeployment);
  const deployments: DevDeployments = { chain_id: params.chainId, token: tokens[0]!, tokens, factory, oracle, multicall3: CANONICAL_MULTICALL3 };
  fs.mkdirSync(path.dirname(recordFile), { recursive: true });
  fs.writeFileSync(recordFile, `${JSON.stringify(deployments, null, 2)}\n`);
  return deployments;
}

/**
 * Multicall3's creation code, as viem ships it (it deploys the same contract when a chain has
 * none). It is not among viem's exports, so it is read from viem's own files.
 */
async function multicall3Bytecode(): Promise<Hex> {
  const viemDir = path.dirname(createRequire(import.meta.url).resolve('viem/package.json'));
  const contracts = (await import(pathToFileURL(path.join(viemDir, '_esm', 'constants', 'contracts.js')).href)) as { multicall3Bytecode?: Hex };
  if (!contracts.multicall3Bytecode) throw new Error(`this version of viem (${viemDir}) ships no Multicall3 bytecode`);
  return contracts.multicall3Bytecode;
}

/**
 * Multicall3 lives where one keyless transaction put it on public chains, and a dev chain has
 * none: the code of a copy deployed normally is set at that address with anvil's cheat code.
 */
async function moveToCanonicalMulticall3(rpcUrl: string, chain: ChainClient, deployed: Address): Promise<void> {
  const code = await chain.getCode({ address: deployed });
  if (code === undefined || code === '0x') throw new Error(`Multicall3 deployed at ${deployed} has no code`);
  await createTestClient({ mode: 'anvil', transport: http(rpcUrl) }).setCode({ address: CANONICAL_MULTICALL3, bytecode: code });
  if (!(await hasCode(chain, CANONICAL_MULTICALL3))) throw new Error(`anvil did not set Multicall3's code at ${CANONICAL_MULTICALL3}`);
}

/**
 * Multicall3 at its canonical address on an anvil that has none yet (deployed by `deployer`, which
 * pays the gas); its address either way. For chains set up outside {@link ensureDevContracts}.
 */
export async function ensureMulticall3({ chain, rpcUrl, deployer }: { chain: ChainClient; rpcUrl: string; deployer: Account }): Promise<Address> {
  if (await hasCode(chain, CANONICAL_MULTICALL3)) return CANONICAL_MULTICALL3;
  const wallet = createWalletClient({ account: deployer, transport: http(rpcUrl) });
  const hash = await wallet.deployContract({ abi: multicall3Abi, bytecode: await multicall3Bytecode(), chain: null });
  const receipt = await chain.waitForTransactionReceipt({ hash, pollingInterval: 100 });
  if (receipt.status !== 'success' || !receipt.contractAddress) throw new Error('deploying Multicall3 failed');
  await moveToCanonicalMulticall3(rpcUrl, chain, receipt.contractAddress);
  return CANONICAL_MULTICALL3;
}
