import { getAddress, isAddress, zeroAddress } from 'viem';
import { describe, expect, it } from 'vitest';
import { predictDepositAddress, randomInvoiceSalt } from './depositAddress.js';

const factory = '0xF2E246BB76DF876Cef8b38ae84130F4F55De395b';
const implementation = '0x4F9DA333DCf4E5A53772791B95c161B2FC041859';
const destination = '0x00000000000000000000000000000000000c1a1c';
const otherDestination = '0x00000000000000000000000000000000000c1a1d';
const salt = '0x000000000000000000000000000000000000000000000000000000000000002a';
const otherSalt = '0x000000000000000000000000000000000000000000000000000000000000002b';

describe('predictDepositAddress', () => {
  it('matches the address DepositFactory computes on chain', () => {
    // Obtained on anvil: the account of private key 0x…01 (0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf)
    // deployed contracts/artifacts/DepositFactory.ts at its nonce 0 with `deployDepositFactory`,
    // which gave the factory and its implementation above; then
    // `factory.depositAddress(destination, salt)` was read with `publicClient.readContract`.
    // test/contracts.test.ts checks the same equality against real deployments.
    expect(predictDepositAddress({ factory, implementation, destination, salt })).toBe('0x2124616cA14A931FD942155f011b9A976c71Fb4b');
  });

  it('is deterministic and checksummed, whatever the case of its inputs', () => {
    const first = predictDepositAddress({ factory, implementation, destination, salt });
    const lower = predictDepositAddress({
      factory: factory.toLowerCase() as `0x${string}`,
      implementation: implementation.toLowerCase() as `0x${string}`,
      destination,
      salt,
    });
    expect(lower).toBe(first);
    expect(first).toBe(getAddress(first));
    expect(isAddress(first)).toBe(true);
  });

  it('gives another address for another destination, salt, factory or implementation', () => {
    const base = predictDepositAddress({ factory, implementation, destination, salt });
    const variants = [
      predictDepositAddress({ factory, implementation, destination: otherDestination, salt }),
      predictDepositAddress({ factory, implementation, destination, salt: otherSalt }),
      predictDepositAddress({ factory: implementation, implementation, destination, salt }),
      predictDepositAddress({ factory, implementation: factory, destination, salt }),
    ];
    expect(new Set([base, ...variants]).size).toBe(5);
  });

  it('refuses malformed input and the zero destination', () => {
    expect(() => predictDepositAddress({ factory, implementation, destination: zeroAddress, salt })).toThrow(/zero address/);
    expect(() => predictDepositAddress({ factory, implementation, destination: '0x1234', salt })).toThrow(/destination is not an address/);
    expect(() => predictDepositAddress({ factory, implementation, destination, salt: '0x2a' })).toThrow(/salt is not 32 bytes/);
  });
});

describe('randomInvoiceSalt', () => {
  it('returns 32 random bytes as hex', () => {
    const salts = Array.from({ length: 100 }, () => randomInvoiceSalt());
    for (const value of salts) expect(value).toMatch(/^0x[0-9a-f]{64}$/);
    expect(new Set(salts).size).toBe(salts.length);
  });
});
