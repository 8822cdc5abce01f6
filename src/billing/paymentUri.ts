/**
 * EIP-681 payment requests: the link (and QR code) any wallet can pay an invoice from.
 */
import type { Address } from 'viem';

export interface PaymentUriParameters {
  chainId: number;
  token: Address;
  recipient: Address;
  /** Token base units. */
  amount: bigint;
}

/**
 * An ERC-20 transfer request: `ethereum:<token>@<chainId>/transfer?address=<recipient>&uint256=<amount>`.
 * The amount is written as a plain integer of base units, which every EIP-681 reader accepts
 * (no scientific notation, so no reader can round it).
 */
export function paymentUri({ chainId, token, recipient, amount }: PaymentUriParameters): string {
  return `ethereum:${token}@${chainId}/transfer?address=${recipient}&uint256=${amount.toString()}`;
}
