/**
 * `dev-stack.json`: where an embedded run's pieces are, for operators and scripts. Its fields
 * are part of the external interface (the README lists them); add fields, never rename one.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Address, Hex } from 'viem';

export interface DevStackFile {
  api_url: string;
  docs_url: string;
  rpc_url: string;
  database_url: string;
  chain_id: number;
  token: { address: Address; symbol: string; decimals: number };
  /** Every accepted token, the pricing one (`token`) first, each with its issuer. */
  /** The test sanctions oracle (its deployer, the first dev account, lists addresses on it). */
  sanctions_oracle: Address | null;
  /** Multicall3, through which reconciliation reads balances; null when MULTICALL3_ADDRESS is `none`. */
  multicall3: Address | null;
  accepted_tokens: readonly { address: Address; symbol: string; decimals: number; issuer: string | null; licence: string | null; peg: 'HKD' }[];
  confirmations: number;
  payers: { address: Address; private_key: Hex }[];
  factory_address: Address;
  demo_clinic_id: string;
  /** The demo clinic's own wallet (its settlement address). */
  clinic_wallet: { address: Address; private_key: Hex };
  /** One dev JWT per role; clinic roles are for the demo clinic. */
  tokens: Record<string, string>;
  /** The demo clinic's API keys, one per API-key role (`clinic_staff`, `auditor`), issued afresh at every start. */
  api_keys: Record<string, string>;
  /** Who can sign in at /console through the dev identity provider, and with what; empty when a real provider is configured. */
  people: { role: string; clinic_id: string | null; sub: string; username: string; password: string }[];
  /** The dev identity provider's issuer URL; null when a real provider is configured. */
  identity_provider_url: string | null;
}

export const DEV_STACK_FILE = 'dev-stack.json';

/** Writes the file readable by its owner only: it holds dev keys and the database password. */
export function writeDevStackFile(dataDir: string, contents: DevStackFile): string {
  const file = path.join(dataDir, DEV_STACK_FILE);
  fs.writeFileSync(file, `${JSON.stringify(contents, null, 2)}\n`, { mode: 0o600 });
  return file;
}
