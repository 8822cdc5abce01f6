/**
 * Reading the transfers that concern the gateway from the chain: every transfer of an accepted
 * token into or out of a deposit address, and transfers of any other token into a recent deposit
 * address. Shared by the watcher (which stores them) and reconciliation (which re-reads the
 * chain independently of what the watcher stored).
 */
import type { Address } from 'viem';
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

/**
 * The transfers of ours in `[fromBlock, toBlock]`, in chain order.
 *
 * One read of the range's `Transfer` logs, of every contract, and one lookup of which of their
 * addresses are deposit addresses: bounded by what the range holds, however many deposit
 * addresses there are. (Asking the node for other tokens by recipient instead took one request
 * per 500 deposit addresses of the last 30 days, each matched against every log of the range.)
 */
export async function readDepositTransfers(params: ReadDepositTransfersParameters): Promise<DepositTransfer[]> {
  const { db, chain, chainId, fromBlock, toBlock } = params;
  const acceptedStored = new Set((params.tokens ?? [params.token]).map((token) => storedAddress(token)));
  const logs = await fetchTransferLogs({ chain, tokens: undefined, fromBlock, toBlock });
  const isAccepted = logs.map((log) => acceptedStored.has(storedAddress(log.token)));
  // Into or out of a deposit address for the accepted tokens; only into one for any other.
  const addresses = [
    ...new Set(logs.flatMap((log, index) => (isAccepted[index] ? [storedAddress(log.from), storedAddress(log.to)] : [storedAddress(log.to)]))),
  ];
  const invoices = addresses.length
    ? ((await db('invoices')
        .where({ token_chain_id: chainId })
        .whereRaw('deposit_address = ANY(?)', [addresses])
        .select(
          'id',
          'clinic_id',
          'deposit_address',
          'settlement_address',
          db.raw(`created_at > now() - make_interval(days => ?) AS watched`, [FOREIGN_TOKEN_WATCH_DAYS]),
        )) as (DepositInvoice & { watched: boolean })[])
    : [];
  const byAddress = new Map(invoices.map(({ watched, ...invoice }) => [invoice.deposit_address, { invoice, watched }]));
  const transfers: DepositTransfer[] = [];
  logs.forEach((log, index) => {
    const into = byAddress.get(storedAddress(log.to));
    if (!isAccepted[index]) {
      if (into?.watched) transfers.push({ ...log, kind: 'foreign_token', invoice: into.invoice });
      return;
    }
    const outOf = byAddress.get(storedAddress(log.from))?.invoice;
    if (into) transfers.push({ ...log, kind: 'payment', invoice: into.invoice });
    else if (outOf) transfers.push({ ...log, kind: storedAddress(log.to) === outOf.settlement_address ? 'forward' : 'unexpected_outflow', invoice: outOf });
  });
  // A node may repeat a log: one per (tx, log index).
  const unique = [...new Map(transfers.map((transfer) => [`${transfer.txHash.toLowerCase()}:${transfer.logIndex}`, transfer])).values()];
  return unique.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
}
