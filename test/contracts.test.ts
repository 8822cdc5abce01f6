/**
 * The deposit contracts on the run's real anvil: the off-chain address is the on-chain one, a
 * flush can only pay the destination bound into the address, and repeating it is harmless.
 * Every test deploys its own token and factory with its own freshly funded accounts.
 */
import { type Address, concat, getAddress, type Hex, parseUnits, zeroAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { depositFactoryAbi } from '../contracts/artifacts/DepositFactory.js';
import { depositForwarderAbi } from '../contracts/artifacts/DepositForwarder.js';
import { testHKDAbi } from '../contracts/artifacts/TestHKD.js';
import { predictDepositAddress, randomInvoiceSalt } from '../src/chain/depositAddress.js';
import { deployDepositFactory, flushDeposits, MAX_FLUSH_BATCH } from '../src/settlement/depositFactory.js';
import { deployTestToken, type FundedAccount, fundedAccount, mint, type TestChain, testChain } from './support/chain.js';

interface Setup {
  chain: TestChain;
  owner: FundedAccount;
  payer: FundedAccount;
  relayer: FundedAccount;
  token: Address;
  factory: Address;
  implementation: Address;
  destination: Address;
}

async function setup(decimals = 6): Promise<Setup> {
  const chain = testChain();
  const [owner, payer, relayer, clinic] = await Promise.all([fundedAccount(chain), fundedAccount(chain), fundedAccount(chain), fundedAccount(chain)]);
  const token = await deployTestToken(chain, owner, decimals);
  const { factory, implementation } = await deployDepositFactory({ wallet: owner.wallet, publicClient: chain.publicClient });
  return { chain, owner, payer, relayer, token, factory, implementation, destination: clinic.address };
}

/** A patient's payment: `amount` minted to the payer, then a plain ERC-20 transfer to `to`. */
async function pay(s: Setup, to: Address, amount: bigint, token = s.token): Promise<void> {
  await mint(s.chain, s.owner, token, s.payer.address, amount);
  const hash = await s.payer.wallet.writeContract({ address: token, abi: testHKDAbi, functionName: 'transfer', args: [to, amount] });
  expect((await s.chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('success');
}

async function balanceOf(s: Setup, owner: Address, token = s.token): Promise<bigint> {
  return s.chain.publicClient.readContract({ address: token, abi: testHKDAbi, functionName: 'balanceOf', args: [owner] });
}

/** `factory.flush(token, destination, salt)` sent by `sender` (the relayer unless told). */
async function flush(s: Setup, destination: Address, salt: Hex, sender = s.relayer): Promise<void> {
  const hash = await sender.wallet.writeContract({ address: s.factory, abi: depositFactoryAbi, functionName: 'flush', args: [s.token, destination, salt] });
  expect((await s.chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('success');
}

function depositAddress(s: Setup, salt: Hex, destination = s.destination): Address {
  return predictDepositAddress({ factory: s.factory, implementation: s.implementation, destination, salt });
}

describe('deposit addresses', () => {
  it('are predicted off-chain exactly where the factory reports and deploys them', async () => {
    const s = await setup();
    const salt = randomInvoiceSalt();
    const predicted = depositAddress(s, salt);

    const reported = await s.chain.publicClient.readContract({
      address: s.factory,
      abi: depositFactoryAbi,
      functionName: 'depositAddress',
      args: [s.destination, salt],
    });
    expect(reported).toBe(predicted);
    expect(await s.chain.publicClient.getCode({ address: predicted })).toBeUndefined();

    const { result: returned } = await s.chain.publicClient.simulateContract({
      account: s.relayer.account,
      address: s.factory,
      abi: depositFactoryAbi,
      functionName: 'flush',
      args: [s.token, s.destination, salt],
    });
    expect(returned).toBe(predicted);
    await flush(s, s.destination, salt);
    // The ERC-1167 proxy of OpenZeppelin's Clones, delegating to the implementation, with the
    // destination appended as its only immutable argument.
    const code = await s.chain.publicClient.getCode({ address: predicted });
    expect(code).toBe(concat(['0x363d3d373d3d3d363d73', s.implementation, '0x5af43d82803e903d91602b57fd5bf3', s.destination]).toLowerCase());
  });
});

describe('flush', () => {
  it('sends the whole balance to the bound destination and nowhere else', async () => {
    const s = await setup();
    const salt = randomInvoiceSalt();
    const deposit = depositAddress(s, salt);
    // Two payments (an invoice paid in two parts) are swept together.
    await pay(s, deposit, 1_234_560_000n);
    await pay(s, deposit, 1n);
    expect(await balanceOf(s, deposit)).toBe(1_234_560_001n);

    await flush(s, s.destination, salt);

    expect(await balanceOf(s, deposit)).toBe(0n);
    expect(await balanceOf(s, s.destination)).toBe(1_234_560_001n);
    expect(await balanceOf(s, s.relayer.address)).toBe(0n);
    expect(await balanceOf(s, s.payer.address)).toBe(0n);
    expect(await balanceOf(s, s.factory)).toBe(0n);
    expect(await balanceOf(s, s.implementation)).toBe(0n);
  });

  it('is safe to repeat on an empty or deployed forwarder, and sweeps a later top-up', async () => {
    const s = await setup();
    const salt = randomInvoiceSalt();
    const deposit = depositAddress(s, salt);

    // Empty and not deployed: deploys, forwards nothing.
    await flush(s, s.destination, salt);
    expect(await s.chain.publicClient.getCode({ address: deposit })).not.toBeUndefined();
    expect(await balanceOf(s, s.destination)).toBe(0n);

    await pay(s, deposit, 500n);
    await flush(s, s.destination, salt);
    expect(await balanceOf(s, s.destination)).toBe(500n);

    // Deployed and empty again: no revert, no second transfer.
    await flush(s, s.destination, salt);
    expect(await balanceOf(s, s.destination)).toBe(500n);
    expect(await balanceOf(s, deposit)).toBe(0n);

    // A top-up after the sweep is swept by the next flush, here straight on the clone.
    await pay(s, deposit, 70n);
    const hash = await s.relayer.wallet.writeContract({ address: deposit, abi: depositForwarderAbi, functionName: 'flush', args: [s.token] });
    expect((await s.chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('success');
    expect(await balanceOf(s, s.destination)).toBe(570n);
    expect(await balanceOf(s, deposit)).toBe(0n);
  });

  it('cannot be redirected by naming another destination for the same salt', async () => {
    const s = await setup();
    const attacker = await fundedAccount(s.chain);
    const salt = randomInvoiceSalt();
    const deposit = depositAddress(s, salt);
    await pay(s, deposit, 9_900n);

    await flush(s, attacker.address, salt, attacker);

    // The attacker's choice named a different address, which was empty.
    const attackerDeposit = depositAddress(s, salt, attacker.address);
    expect(attackerDeposit).not.toBe(deposit);
    expect(await s.chain.publicClient.getCode({ address: attackerDeposit })).not.toBeUndefined();
    expect(await balanceOf(s, attacker.address)).toBe(0n);
    expect(await balanceOf(s, attackerDeposit)).toBe(0n);
    expect(await balanceOf(s, deposit)).toBe(9_900n);
    expect(await balanceOf(s, s.destination)).toBe(0n);

    // Anyone, the attacker included, can only pay the real destination.
    await flush(s, s.destination, salt, attacker);
    expect(await balanceOf(s, deposit)).toBe(0n);
    expect(await balanceOf(s, s.destination)).toBe(9_900n);
    expect(await balanceOf(s, attacker.address)).toBe(0n);
  });

  it('refuses the zero destination', async () => {
    const s = await setup();
    await expect(
      s.chain.publicClient.simulateContract({
        account: s.relayer.account,
        address: s.factory,
        abi: depositFactoryAbi,
        functionName: 'flush',
        args: [s.token, zeroAddress, randomInvoiceSalt()],
      }),
    ).rejects.toThrow(/ZeroDestination/);
  });
});

describe('the implementation', () => {
  it('cannot be used directly to move anything', async () => {
    const s = await setup();
    const attacker = await fundedAccount(s.chain);
    // Tokens sent to the implementation by mistake stay there: it has no destination to pay.
    await pay(s, s.implementation, 1_000n);

    await expect(
      s.chain.publicClient.simulateContract({
        account: attacker.account,
        address: s.implementation,
        abi: depositForwarderAbi,
        functionName: 'flush',
        args: [s.token],
      }),
    ).rejects.toThrow(/NotADepositClone/);
    // Sent anyway, with a gas limit so that estimation does not stop it first: it reverts.
    const hash = await attacker.wallet.writeContract({
      address: s.implementation,
      abi: depositForwarderAbi,
      functionName: 'flush',
      args: [s.token],
      gas: 100_000n,
    });
    expect((await s.chain.publicClient.waitForTransactionReceipt({ hash })).status).toBe('reverted');

    expect(await balanceOf(s, s.implementation)).toBe(1_000n);
    expect(await balanceOf(s, attacker.address)).toBe(0n);
  });
});

describe('flushMany', () => {
  it('reverts when destinations and salts differ in number', async () => {
    const s = await setup();
    await expect(
      s.chain.publicClient.simulateContract({
        account: s.relayer.account,
        address: s.factory,
        abi: depositFactoryAbi,
        functionName: 'flushMany',
        args: [s.token, [s.destination, s.destination], [randomInvoiceSalt()]],
      }),
    ).rejects.toThrow(/LengthMismatch/);
  });

  it('flushDeposits takes 1 to MAX_FLUSH_BATCH deposits', async () => {
    const s = await setup();
    const base = { wallet: s.relayer.wallet, publicClient: s.chain.publicClient, factory: s.factory, token: s.token };
    await expect(flushDeposits({ ...base, deposits: [] })).rejects.toThrow(RangeError);
    const tooMany = Array.from({ length: MAX_FLUSH_BATCH + 1 }, () => ({ destination: s.destination, salt: randomInvoiceSalt() }));
    await expect(flushDeposits({ ...base, deposits: tooMany })).rejects.toThrow(RangeError);
  });

  it.each([6, 18])('sweeps a batch of a %i-decimal token, deployed and fresh deposits mixed', async (decimals) => {
    const s = await setup(decimals);
    const otherClinic = (await fundedAccount(s.chain)).address;
    const deposits = [
      { destination: s.destination, salt: randomInvoiceSalt(), amount: parseUnits('1234.56', decimals) },
      { destination: otherClinic, salt: randomInvoiceSalt(), amount: parseUnits('0.01', decimals) },
      { destination: s.destination, salt: randomInvoiceSalt(), amount: parseUnits('999999.99', decimals) },
      // Not paid (yet): deployed with nothing to forward.
      { destination: otherClinic, salt: randomInvoiceSalt(), amount: 0n },
    ];
    for (const deposit of deposits) if (deposit.amount > 0n) await pay(s, depositAddress(s, deposit.salt, deposit.destination), deposit.amount);
    // One of them is already deployed and swept before the batch, then topped up.
    const first = deposits[0]!;
    await flush(s, first.destination, first.salt);
    await pay(s, depositAddress(s, first.salt, first.destination), 5n);

    const receipt = await flushDeposits({ wallet: s.relayer.wallet, publicClient: s.chain.publicClient, factory: s.factory, token: s.token, deposits });

    expect(receipt.status).toBe('success');
    expect(receipt.gasUsed).toBeGreaterThan(0n);
    expect(await balanceOf(s, s.destination)).toBe(deposits[0]!.amount + 5n + deposits[2]!.amount);
    expect(await balanceOf(s, otherClinic)).toBe(deposits[1]!.amount);
    for (const deposit of deposits) {
      const address = depositAddress(s, deposit.salt, deposit.destination);
      expect(await balanceOf(s, address)).toBe(0n);
      expect(await s.chain.publicClient.getCode({ address })).not.toBeUndefined();
    }
    expect(await balanceOf(s, s.relayer.address)).toBe(0n);
    // Every forwarding left the token's Transfer log from the deposit address to its destination.
    const transfers = receipt.logs.filter((log) => getAddress(log.address) === getAddress(s.token));
    expect(transfers).toHaveLength(3);
  });
});
