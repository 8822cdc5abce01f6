/**
 * Watches the issuers' freezes of the gateway's addresses. For each accepted token whose
 * allow-list entry says how its issuer freezes (`freeze`: a view and an event), one pass:
 * 1. reads the token's freeze events since the last pass (bounded ranges) and keeps those of
 *    the gateway's addresses: deposit addresses and the wallets clinics settle to; the first
 *    pass also asks the view about every clinic's wallet, so a wallet frozen before the gateway
 *    watched is not missed;
 * 2. confirms each with the view (the event alone could be undone by a reorg or a later unfreeze)
 *    and records the frozen ones (compliance/freezes.ts), each an alert in the log;
 * 3. asks the view about every freeze recorded before, and records those the issuer lifted.
 * The flusher sends nothing from or to a frozen address; reconciliation puts each freeze in the
 * exception queue until it is lifted.
 */
import { type AbiEvent, type Address, getAddress, parseAbiItem } from 'viem';
import { SYSTEM } from '../audit/auditLog.js';
import { clinicSettlementAddresses } from '../billing/clinics.js';
import { ownersOfAddresses } from '../billing/invoices.js';
import type { ChainClient } from '../chain/client.js';
import type { AcceptedToken } from '../chain/paymentNetwork.js';
import { activeFreezes, type FreezeSeen, freezeScannedTo, recordFreezeScan, recordFreezes, recordLifted } from '../compliance/freezes.js';
import type { Db } from '../platform/db.js';
import type { Logger } from '../platform/log.js';
import { withTransaction } from '../platform/transaction.js';

export interface FreezeWatchDeps {
  db: Db;
  chain: ChainClient;
  logger: Logger;
  chainId: number;
  tokens: readonly Pick<AcceptedToken, 'address' | 'symbol' | 'freeze'>[];
  /** Blocks of freeze events read per call. */
  maxBlockRange: bigint;
}

/** Addresses asked about per view call batch. */
const VIEW_CONCURRENCY = 16;

/** One pass over every token whose issuer freezes; returns how many freezes were found and lifted. */
export async function watchFreezes(deps: FreezeWatchDeps): Promise<{ frozen: number; lifted: number }> {
  let frozen = 0;
  let lifted = 0;
  for (const token of deps.tokens) {
    if (!token.freeze) continue;
    const result = await watchToken(deps, token as Pick<AcceptedToken, 'address' | 'symbol'> & { freeze: NonNullable<AcceptedToken['freeze']> });
    frozen += result.frozen;
    lifted += result.lifted;
  }
  return { frozen, lifted };
}

async function watchToken(
  deps: FreezeWatchDeps,
  token: Pick<AcceptedToken, 'address' | 'symbol'> & { freeze: NonNullable<AcceptedToken['freeze']> },
): Promise<{ frozen: number; lifted: number }> {
  const { db, chain, chainId } = deps;
  const head = await chain.getBlockNumber({ cacheTime: 0 });
  const scanned = await freezeScannedTo(db, chainId, token.address);
  const from = scanned === undefined ? (head >= deps.maxBlockRange ? head - deps.maxBlockRange + 1n : 0n) : scanned + 1n;
  const to = from + deps.maxBlockRange - 1n < head ? from + deps.maxBlockRange - 1n : head;

  // 1. Candidates: the addresses the events name (and, the first time, every clinic's wallet).
  const candidates = new Map<string, bigint | null>();
  if (from <= to) {
    const logs = await chain.getLogs({
      address: token.address,
      event: { type: 'event', name: token.freeze.event, inputs: [{ type: 'address', name: 'account', indexed: true }] } as AbiEvent,
      fromBlock: from,
      toBlock: to,
    });
    for (const log of logs) {
      const account = (log as unknown as { args: { account?: Address } }).args.account;
      if (account) candidates.set(account.toLowerCase(), log.blockNumber);
    }
  }
  if (scanned === undefined) {
    for (const wallet of (await clinicSettlementAddresses(db)).keys()) if (!candidates.has(wallet)) candidates.set(wallet, null);
  }
  const owned = await ownersOfAddresses(db, chainId, [...candidates.keys()]);

  // 2. Confirmed by the view, now.
  const frozenNow = await isFrozen(deps, token, [...new Set(owned.map((owner) => owner.address))]);
  const seen: FreezeSeen[] = owned
    .filter((owner) => frozenNow.get(owner.address))
    .map((owner) => ({
      chainId,
      token: token.address,
      address: owner.address,
      role: owner.role,
      clinicId: owner.clinic_id,
      invoiceId: owner.invoice_id,
      blockNumber: candidates.get(owner.address) ?? null,
    }));

  // 3. Those recorded before: still frozen?
  const recorded = await activeFreezes(db, token.address);
  const stillFrozen = await isFrozen(deps, token, [...new Set(recorded.map((freeze) => freeze.address))]);
  const liftedIds = recorded.filter((freeze) => !stillFrozen.get(freeze.address)).map((freeze) => freeze.id);

  const { added, removed } = await withTransaction(db, async (trx) => {
    const added = await recordFreezes(trx, SYSTEM.watcher, seen);
    const removed = await recordLifted(trx, SYSTEM.watcher, liftedIds);
    if (from <= to || scanned === undefined) await recordFreezeScan(trx, chainId, token.address, from <= to ? to : head);
    return { added, removed };
  });
  for (const freeze of added) {
    // The alert: an operator's log rules (and clinicpay_addresses_frozen) pick this up.
    deps.logger.error(
      {
        alert: 'address_frozen',
        token: token.symbol,
        address: getAddress(freeze.address),
        role: freeze.role,
        clinic_id: freeze.clinic_id,
        invoice_id: freeze.invoice_id,
      },
      'an issuer froze an address of the gateway: nothing is forwarded from or to it until the issuer lifts the freeze',
    );
  }
  for (const freeze of removed) {
    deps.logger.info({ token: token.symbol, address: getAddress(freeze.address), role: freeze.role, clinic_id: freeze.clinic_id }, 'an issuer lifted a freeze');
  }
  return { frozen: added.length, lifted: removed.length };
}

/** What the issuer's view says of each address now. */
async function isFrozen(
  deps: FreezeWatchDeps,
  token: Pick<AcceptedToken, 'address'> & { freeze: NonNullable<AcceptedToken['freeze']> },
  addresses: readonly string[],
): Promise<Map<string, boolean>> {
  const abi = [parseAbiItem(`function ${token.freeze.view}(address account) view returns (bool)`)];
  const answers = new Map<string, boolean>();
  for (let start = 0; start < addresses.length; start += VIEW_CONCURRENCY) {
    const chunk = addresses.slice(start, start + VIEW_CONCURRENCY);
    const results = await Promise.all(
      chunk.map(
        (address) => deps.chain.readContract({ address: token.address, abi, functionName: token.freeze.view, args: [getAddress(address)] }) as Promise<boolean>,
      ),
    );
    for (const [index, address] of chunk.entries()) answers.set(address, results[index]!);
  }
  return answers;
}
