/**
 * Gas per invoice of sweeping deposit addresses through `DepositFactory.flushMany`, against
 * the baseline of sweeping a per-invoice EOA (an ETH top-up for its gas, then its own ERC-20
 * `transfer`), both measured from receipts on a private anvil in the same run.
 *
 *   npx tsx bench/gas.ts
 *
 * Every deposit is paid by a plain ERC-20 transfer from a payer before it is swept. The
 * clinics' settlement addresses already hold tokens, as they do after their first payment, so
 * neither side pays the one-off 20,000 gas of a clinic's first-ever token balance.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Account,
  type Address,
  type Chain,
  createPublicClient,
  createTestClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  parseEther,
  type TransactionReceipt,
  type Transport,
  type WalletClient,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { testHKDAbi, testHKDBytecode } from '../contracts/artifacts/TestHKD.js';
import { predictDepositAddress, randomInvoiceSalt } from '../src/chain/depositAddress.js';
import { startAnvil } from '../src/dev/anvil.js';
import { type Deposit, deployDepositFactory, flushDeposits } from '../src/settlement/depositFactory.js';

/** The goal set for the design: first forwarding, batches of 50. */
const GOAL_GAS_PER_INVOICE = 60_000n;
const GOAL_BATCH = 50;
const PAYMENT = 1_234_560_000n; // 1,234.56 tHKD at 6 decimals

type Wallet = WalletClient<Transport, Chain, Account>;

interface Bench {
  rpcUrl: string;
  publicClient: PublicClient;
  owner: Wallet;
  payer: Wallet;
  relayer: Wallet;
  token: Address;
  factory: Address;
  implementation: Address;
}

interface Row {
  scenario: string;
  invoices: number;
  gasPerInvoice: bigint;
}

async function newWallet(rpcUrl: string, privateKey: Hex = generatePrivateKey(), ether = '1000'): Promise<Wallet> {
  const account = privateKeyToAccount(privateKey);
  if (ether !== '0') await createTestClient({ mode: 'anvil', transport: http(rpcUrl) }).setBalance({ address: account.address, value: parseEther(ether) });
  return createWalletClient({ account, chain: foundry, transport: http(rpcUrl) });
}

async function confirmed(publicClient: PublicClient, hash: Hex): Promise<TransactionReceipt> {
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`transaction ${hash} reverted`);
  return receipt;
}

async function balanceOf(b: Bench, owner: Address): Promise<bigint> {
  return b.publicClient.readContract({ address: b.token, abi: testHKDAbi, functionName: 'balanceOf', args: [owner] });
}

/** The patient's side, the same for both ways of sweeping: a plain transfer from the payer. */
async function pay(b: Bench, to: Address, amount: bigint): Promise<void> {
  await confirmed(b.publicClient, await b.payer.writeContract({ address: b.token, abi: testHKDAbi, functionName: 'transfer', args: [to, amount] }));
}

async function newClinic(b: Bench): Promise<Address> {
  const clinic = privateKeyToAccount(generatePrivateKey()).address;
  await confirmed(b.publicClient, await b.owner.writeContract({ address: b.token, abi: testHKDAbi, functionName: 'mint', args: [clinic, 1n] }));
  return clinic;
}

function depositAddress(b: Bench, deposit: Deposit): Address {
  return predictDepositAddress({ factory: b.factory, implementation: b.implementation, ...deposit });
}

/** Pays every deposit, sweeps them in one `flushMany`, checks where the money went, returns gas per invoice. */
async function payAndFlush(b: Bench, deposits: readonly Deposit[]): Promise<bigint> {
  for (const deposit of deposits) await pay(b, depositAddress(b, deposit), PAYMENT);
  const destinations = [...new Set(deposits.map((deposit) => deposit.destination))];
  const before = await Promise.all(destinations.map((destination) => balanceOf(b, destination)));
  const receipt = await flushDeposits({ wallet: b.relayer, publicClient: b.publicClient, factory: b.factory, token: b.token, deposits });
  if (receipt.status !== 'success') throw new Error(`flushMany of ${deposits.length} reverted`);
  // Not a measurement without the effect: every payment must have reached its clinic.
  for (const [index, destination] of destinations.entries()) {
    const expected = BigInt(deposits.filter((deposit) => deposit.destination === destination).length) * PAYMENT;
    if ((await balanceOf(b, destination)) - before[index]! !== expected) throw new Error(`flushMany did not forward ${expected} to ${destination}`);
  }
  for (const deposit of deposits) if ((await balanceOf(b, depositAddress(b, deposit))) !== 0n) throw new Error('a deposit address kept a balance');
  return receipt.gasUsed / BigInt(deposits.length);
}

function freshDeposits(count: number, destination: () => Address): Deposit[] {
  return Array.from({ length: count }, () => ({ destination: destination(), salt: randomInvoiceSalt() }));
}

/** The baseline: a per-invoice EOA is paid, topped up with ETH for gas, and sends its balance on. */
async function measureBaseline(b: Bench, clinic: Address): Promise<{ topUp: bigint; transfer: bigint }> {
  const depositKey = generatePrivateKey();
  const depositEoa = await newWallet(b.rpcUrl, depositKey, '0');
  await pay(b, depositEoa.account.address, PAYMENT);
  const topUp = await confirmed(b.publicClient, await b.relayer.sendTransaction({ to: depositEoa.account.address, value: parseEther('0.01') }));
  const before = await balanceOf(b, clinic);
  const transfer = await confirmed(
    b.publicClient,
    await depositEoa.writeContract({ address: b.token, abi: testHKDAbi, functionName: 'transfer', args: [clinic, PAYMENT] }),
  );
  if ((await balanceOf(b, clinic)) - before !== PAYMENT) throw new Error('the baseline transfer did not reach the clinic');
  return { topUp: topUp.gasUsed, transfer: transfer.gasUsed };
}

function printTable(rows: readonly Row[], baseline: bigint): void {
  const header = ['scenario', 'invoices/tx', 'gas/invoice', 'vs baseline'];
  const body = rows.map((row) => [
    row.scenario,
    String(row.invoices),
    row.gasPerInvoice.toLocaleString('en-US'),
    `${(Number(row.gasPerInvoice) / Number(baseline)).toFixed(2)}x`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...body.map((cells) => cells[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const cells of body) console.log(line(cells));
}

/**
 * Starts a private anvil, measures, prints the table and whether the goal is met, and stops
 * anvil again. Throws when a swept payment did not arrive where it had to.
 */
export async function runGasBench(): Promise<void> {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-bench-gas-'));
  const anvil = await startAnvil({ logFile: path.join(workDir, 'anvil.log') });
  try {
    const publicClient = createPublicClient({ chain: foundry, transport: http(anvil.rpcUrl) });
    const [owner, payer, relayer] = await Promise.all([newWallet(anvil.rpcUrl), newWallet(anvil.rpcUrl), newWallet(anvil.rpcUrl)]);
    const tokenReceipt = await confirmed(
      publicClient,
      await owner.deployContract({ abi: testHKDAbi, bytecode: testHKDBytecode, args: ['Test HKD', 'tHKD', 6, owner.account.address] }),
    );
    const token = tokenReceipt.contractAddress!;
    const { factory, implementation } = await deployDepositFactory({ wallet: relayer, publicClient });
    const b: Bench = { rpcUrl: anvil.rpcUrl, publicClient, owner, payer, relayer, token, factory, implementation };
    await confirmed(
      publicClient,
      await owner.writeContract({ address: token, abi: testHKDAbi, functionName: 'mint', args: [payer.account.address, PAYMENT * 1_000n] }),
    );

    const clinic = await newClinic(b);
    const { topUp, transfer } = await measureBaseline(b, clinic);
    const baseline = topUp + transfer;

    const rows: Row[] = [];
    const sameClinic = () => clinic;
    const first: Record<number, Deposit[]> = {};
    for (const count of [1, 10, GOAL_BATCH]) {
      first[count] = freshDeposits(count, sameClinic);
      rows.push({ scenario: 'first flush (deploy + forward), one clinic', invoices: count, gasPerInvoice: await payAndFlush(b, first[count]) });
    }
    const clinics: Address[] = [];
    for (let i = 0; i < GOAL_BATCH; i++) clinics.push(await newClinic(b));
    let next = 0;
    rows.push({
      scenario: 'first flush (deploy + forward), a clinic each',
      invoices: GOAL_BATCH,
      gasPerInvoice: await payAndFlush(
        b,
        freshDeposits(GOAL_BATCH, () => clinics[next++]!),
      ),
    });
    // Late top-ups of deposit addresses whose forwarders are already deployed.
    rows.push({ scenario: 're-flush of a deployed forwarder', invoices: 1, gasPerInvoice: await payAndFlush(b, first[1]!) });
    rows.push({ scenario: 're-flush of a deployed forwarder', invoices: GOAL_BATCH, gasPerInvoice: await payAndFlush(b, first[GOAL_BATCH]!) });

    console.log(`Baseline, per invoice (EOA deposit address swept by itself), measured on the same anvil:`);
    console.log(`  ETH top-up of the deposit EOA        ${topUp.toLocaleString('en-US')} gas`);
    console.log(`  its token transfer to the clinic     ${transfer.toLocaleString('en-US')} gas`);
    console.log(`  total                                ${baseline.toLocaleString('en-US')} gas`);
    console.log('');
    printTable(rows, baseline);
    console.log('');
    const atGoal = rows.find((row) => row.scenario.startsWith('first flush') && row.invoices === GOAL_BATCH)!;
    const met = atGoal.gasPerInvoice <= GOAL_GAS_PER_INVOICE;
    console.log(
      `Goal (<= ${GOAL_GAS_PER_INVOICE.toLocaleString('en-US')} gas per invoice for a first flush in batches of ${GOAL_BATCH}, one clinic): ` +
        `${met ? 'met' : 'NOT met'} (${atGoal.gasPerInvoice.toLocaleString('en-US')}).`,
    );
  } finally {
    await anvil.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runGasBench().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
