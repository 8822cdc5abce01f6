/**
 * Addresses at the API edge: accepted as 0x hex (all lower, all upper, or with a correct EIP-55
 * checksum), stored lower-case, returned checksummed.
 */
import { type Address, getAddress, isAddress } from 'viem';
import { ValidationError } from '../platform/errors.js';

const ZERO = '0x0000000000000000000000000000000000000000';

/** Parses a payout address from a request; refuses bad checksums and the zero address. */
export function parseAddressParam(value: string, param: string): Address {
  if (!isAddress(value, { strict: true })) {
    throw new ValidationError(`"${param}" is not a valid address: 0x and 40 hex digits, with a correct EIP-55 checksum if mixed case.`, param);
  }
  if (value.toLowerCase() === ZERO) throw new ValidationError(`"${param}" must not be the zero address.`, param);
  return getAddress(value);
}

/** The form kept in the database. */
export function storedAddress(address: string): string {
  return address.toLowerCase();
}

/**
 * Checksummed forms already computed, by the form given. A webhook or a page shows the same few
 * addresses many times (an invoice's deposit address and token in every event about it), and each
 * checksum is a keccak hash. Emptied when full rather than kept in order: a plain lookup stays cheap.
 */
const apiForms = new Map<string, Address>();
const API_FORMS_KEPT = 20_000;

/** The form returned by the API. */
export function apiAddress(stored: string): Address {
  let address = apiForms.get(stored);
  if (address === undefined) {
    address = getAddress(stored);
    if (apiForms.size >= API_FORMS_KEPT) apiForms.clear();
    apiForms.set(stored, address);
  }
  return address;
}
