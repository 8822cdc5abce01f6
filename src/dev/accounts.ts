/**
 * The funded accounts of the dev chain, derived from its mnemonic. Index 0 deploys and owns the
 * test contracts, 1–4 are payers (patients' wallets), 5 is the demo clinic's own wallet (its
 * settlement address, which sends refunds), 9 is the relayer.
 */
import { type Address, bytesToHex, type Hex } from 'viem';
import { mnemonicToAccount, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts';

export const DEPLOYER_INDEX = 0;
export const PAYER_INDEXES = [1, 2, 3, 4] as const;
export const CLINIC_WALLET_INDEX = 5;
export const RELAYER_INDEX = 9;

export interface DevAccount {
  address: Address;
  private_key: Hex;
  account: PrivateKeyAccount;
}

/** The account at `addressIndex` of the standard derivation path (m/44'/60'/0'/0/i). */
export function devAccount(mnemonic: string, addressIndex: number): DevAccount {
  const hd = mnemonicToAccount(mnemonic, { addressIndex });
  const key = hd.getHdKey().privateKey;
  if (!key) throw new Error('mnemonic yielded no private key');
  const privateKey = bytesToHex(key);
  return { address: hd.address, private_key: privateKey, account: privateKeyToAccount(privateKey) };
}
