/**
 * Per-invoice deposit addresses, computed off-chain before anything is deployed
 * (docs/decisions/0001-create2-forwarders.md). Each is the CREATE2 address of an OpenZeppelin clone of `DepositForwarder`
 * whose one immutable argument is the clinic's settlement address, deployed by
 * `DepositFactory` with the invoice's random salt. Pure: no I/O, no chain access.
 */
import { randomBytes } from 'node:crypto';
import { type Address, concat, getAddress, getContractAddress, type Hex, isAddress, keccak256, numberToHex, size, toHex, zeroAddress } from 'viem';
import { depositFactoryBytecode } from '../../contracts/artifacts/DepositFactory.js';

export interface PredictDepositAddressParameters {
  /** The `DepositFactory` that deploys the clone (the CREATE2 deployer). */
  factory: Address;
  /** The factory's `implementation()`: the `DepositForwarder` the clone delegates to. */
  implementation: Address;
  /** The clinic's settlement address, the only address the deposit can ever pay. */
  destination: Address;
  /** The invoice's 32-byte salt, see `randomInvoiceSalt`. */
  salt: Hex;
}

export type PredictDepositAddressReturnType = Address;

/** The ERC-1167 runtime code with immutable args is 45 bytes followed by the args. */
const CLONE_RUNTIME_PREFIX_BYTES = 0x2d;
/** Bytes of OpenZeppelin 5 `Clones._cloneCodeWithImmutableArgs` around the implementation address. */
const INIT_CODE_BEFORE_LENGTH = '0x61';
const INIT_CODE_BEFORE_IMPLEMENTATION = '0x3d81600a3d39f3363d3d373d3d3d363d73';
const INIT_CODE_AFTER_IMPLEMENTATION = '0x5af43d82803e903d91602b57fd5bf3';

/**
 * The init code `Clones.cloneDeterministicWithImmutableArgs(implementation, args, salt)` deploys:
 * `0x61 <uint16 runtime length> 3d81600a3d39f3 | 363d3d373d3d3d363d73 <implementation>
 * 5af43d82803e903d91602b57fd5bf3 <args>`, i.e. a 10-byte constructor that copies out the
 * 45-byte ERC-1167 proxy with the args appended.
 */
function cloneInitCode(implementation: Address, args: Hex): Hex {
  return concat([
    INIT_CODE_BEFORE_LENGTH,
    numberToHex(size(args) + CLONE_RUNTIME_PREFIX_BYTES, { size: 2 }),
    INIT_CODE_BEFORE_IMPLEMENTATION,
    implementation,
    INIT_CODE_AFTER_IMPLEMENTATION,
    args,
  ]);
}

/**
 * The deposit address of one invoice: where the patient pays, and where
 * `DepositFactory.flush(token, destination, salt)` later deploys the forwarder. Equal to the
 * factory's `depositAddress(destination, salt)` (OpenZeppelin's
 * `predictDeterministicAddressWithImmutableArgs` with `args = abi.encodePacked(destination)`),
 * without a call to the chain. Another destination or another salt gives another address.
 *
 * @returns The checksummed deposit address.
 * @throws When an address is malformed, the destination is the zero address, or the salt is
 *         not 32 bytes.
 *
 * @example
 * const salt = randomInvoiceSalt(); // stored with the invoice
 * const depositAddress = predictDepositAddress({ factory, implementation, destination: clinic.settlementAddress, salt });
 */
export function predictDepositAddress(params: PredictDepositAddressParameters): PredictDepositAddressReturnType {
  const { factory, implementation, destination, salt } = params;
  for (const [name, value] of [
    ['factory', factory],
    ['implementation', implementation],
    ['destination', destination],
  ] as const) {
    if (!isAddress(value)) throw new TypeError(`${name} is not an address: ${value}`);
  }
  if (getAddress(destination) === zeroAddress) throw new TypeError('destination is the zero address');
  if (!/^0x[0-9a-fA-F]{64}$/.test(salt)) throw new TypeError(`salt is not 32 bytes of hex: ${salt}`);
  return getContractAddress({
    opcode: 'CREATE2',
    from: factory,
    salt,
    bytecodeHash: keccak256(cloneInitCode(implementation, destination)),
  });
}

/**
 * A fresh random salt for a new invoice's deposit address (32 bytes from the OS CSPRNG).
 * Random rather than derived from the invoice id, so that deposit addresses reveal nothing
 * about invoice numbering and cannot be guessed ahead of time.
 *
 * @example
 * const salt = randomInvoiceSalt(); // '0x3f9c…' (66 characters)
 */
export function randomInvoiceSalt(): Hex {
  return toHex(randomBytes(32));
}

/**
 * The deterministic deployment proxy (github.com/Arachnid/deterministic-deployment-proxy): on
 * almost every EVM chain at this address, and predeployed by anvil. Sent `salt ‖ init code`, it
 * CREATE2-deploys the code, so the result's address depends on nothing but the two.
 */
export const CREATE2_DEPLOYER: Address = '0x4e59b44847b379578588920ca78fbf26c0b4956c';
/** The salt ClinicPay's factory is deployed with: one factory address on every chain. */
export const FACTORY_SALT: Hex = keccak256(toHex('clinicpay:DepositFactory:v1'));

/**
 * keccak256 of the runtime code of the factory {@link deployDepositFactoryDeterministically}
 * deploys: the same on every chain, because the implementation address in it follows from the
 * factory's. `test/deploy.test.ts` deploys on a fresh chain and fails when this is stale (after
 * the contracts are recompiled).
 */
export const EXPECTED_FACTORY_CODE_HASH: Hex = '0x10fbae83aa6f0a573bb364d9f50a53572790a729b6243ea6d28441f0a6e60b10';

/** Where {@link deployDepositFactoryDeterministically} puts the factory, on any chain. */
export function deterministicFactoryAddress(): Address {
  return getContractAddress({ opcode: 'CREATE2', from: CREATE2_DEPLOYER, salt: FACTORY_SALT, bytecode: depositFactoryBytecode });
}
