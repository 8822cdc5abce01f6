/**
 * Reading the transfers that concern the gateway from the chain: every transfer of an accepted
 * token into or out of a deposit address, and transfers of any other token into a recent deposit
 * address. Shared by the watcher (which stores them) and reconciliation (which re-reads the
 * chain independently of what the watcher stored).
 */
import { type Address, getAddress } from 'viem';
import type { ChainClient } from '../chain/client.js';
import { fetchTransferLogs, type TransferLog } from '../chain/transferLogs.js';
import { storedAddress } from '../domain/address.js';
import type { Db } from '../platform/db.js';

export type TransferKind = 'payment' | 'forward' | 'foreign_token' | 'unexpected_outflow';

export interface DepositInvoice {
  id: string;
  clinic_id: string;
  deposit_address: string;
  /** The clinic address bound into the deposit address: the only place a forward goes. */
  settlement_address: string;
}

export interface DepositTransfer extends TransferLog {
  kind: TransferKind;
  invoice: DepositInvoice;
}

export interface ReadDepositTransfersParameters {
  db: Db;
  chain: ChainClient;
  chainId: number;
  /** The pricing token. */
  token: Address;
  /** Every accepted token (the allow-list); default: `token` alone. */
  tokens?: readonly Address[];
  fromBlock: bigint;
  toBlock: bigint;
}

/** Deposit addresses are watched for other tokens this long after their invoice was made. */
const FOREIGN_TOKEN_WATCH_DAYS = 30;
/** Addresses per `eth_getLogs` topic filter. */
const ADDRESS_FILTER_CHUNK = 500;

/** The transfers of ours in `[fromBlock, toBlock]`, in chain order. */
export async function readDepositTransfers(params: ReadDepositTransfersParameters): Promise<DepositTransfer[]> {
  const { db, chain, chainId, fromBlock, toBlock } = params;
  const accepted = params.tokens ?? [params.token];
  const acceptedStored = new Set(accepted.map((token) => storedAddress(token)));
  const [logs, foreign] = await Promise.all([fetchTransferLogs({ chain, tokens: accepted, fromBlock, toBlock }), fetchForeignTokenLogs(params)]);
  const addresses = [...new Set(logs.flatMap((log) => [storedAddress(log.from), storedAddress(log.to)]))];
  const invoices = addresses.length
    ? ((await db('invoices')
        .where({ token_chain_id: chainId })
        .whereRaw('deposit_address = ANY(?)', [addresses])
        .select('id', 'clinic_id', 'deposit_address', 'settlement_address')) as DepositInvoice[])
    : [];
  const byAddress = new Map([...invoices, ...foreign.invoices].map((invoice) => [invoice.deposit_address, invoice]));
  const transfers: DepositTransfer[] = [];
  for (const log of logs) {
    const into = byAddress.get(storedAddress(log.to));
    const outOf = byAddress.get(storedAddress(log.from));
    if (into) transfers.push({ ...log, kind: 'payment', invoice: into });
    else if (outOf) transfers.push({ ...log, kind: storedAddress(log.to) === outOf.settlement_address ? 'forward' : 'unexpected_outflow', invoice: outOf });
  }
  for (const log of foreign.logs) {
    if (!acceptedStored.has(storedAddress(log.token))) transfers.push({ ...log, kind: 'foreign_token', invoice: byAddress.get(storedAddress(log.to))! });
  }
  // A node may repeat a log (or the token and foreign reads overlap): one per (tx, log index).
  const unique = [...new Map(transfers.map((transfer) => [`${transfer.txHash.toLowerCase()}:${transfer.logIndex}`, transfer])).values()];
  return unique.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
}

async function fetchForeignTokenLogs(params: ReadDepositTransfersParameters): Promise<{ logs: TransferLog[]; invoices: DepositInvoice[] }> {
  const invoices = (await params
    .db('invoices')
    .where({ token_chain_id: params.chainId })
    .where('created_at', '>', params.db.raw(`now() - make_interval(days => ?)`, [FOREIGN_TOKEN_WATCH_DAYS]))
    .select('id', 'clinic_id', 'deposit_address', 'settlement_address')) as DepositInvoice[];
  const logs: TransferLog[] = [];
  for (let start = 0; start < invoices.length; start += ADDRESS_FILTER_CHUNK) {
    const chunk = invoices.slice(start, start + ADDRESS_FILTER_CHUNK).map((invoice) => getAddress(invoice.deposit_address));
    logs.push(
      ...(await fetchTransferLogs({ chain: params.chain, tokens: undefined, toAddresses: chunk, fromBlock: params.fromBlock, toBlock: params.toBlock })),
    );
  }
  return { logs, invoices };
}
