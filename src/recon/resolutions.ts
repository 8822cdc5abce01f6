/**
 * Resolving exceptions, with a second pair of eyes on any money that moves: one finance user
 * proposes (`pending_approval`), a different one (another JWT `sub`) approves.
 *
 * - `refund`: back to the address that paid, or to another address the payer proves to control
 *   by signing {@link refundAuthorizationMessage} (EIP-191). Non-custodial: approval yields the
 *   exact transfer for the clinic's own wallet (EIP-681 URI and call data); the refund completes
 *   when that transfer is seen on the chain ({@link matchRefunds}).
 * - `apply_to_invoice`: an excess or unknown payment credited to another open invoice of the clinic.
 * - `write_off`: with a reason; a received amount is kept as the clinic's.
 *
 * Each posts its own journal entry; nothing is edited.
 */
import { type Address, encodeFunctionData, erc20Abi, getAddress, type Hex, verifyMessage } from 'viem';
import { type AuditActor, type AuditEvent, appendAudit, SYSTEM } from '../audit/auditLog.js';
import { getInvoice } from '../billing/invoices.js';
import { paymentUri } from '../billing/paymentUri.js';
import type { ChainClient } from '../chain/client.js';
import { readCursor } from '../chain/cursor.js';
import { type Finality, finalHead } from '../chain/finality.js';
import { acceptedTokenAt, type PaymentNetwork } from '../chain/paymentNetwork.js';
import { fetchTransferLogs } from '../chain/transferLogs.js';
import { decideHold } from '../compliance/holds.js';
import { refuseScreenedAddress } from '../compliance/screening.js';
import { apiAddress, parseAddressParam, storedAddress } from '../domain/address.js';
import { ForbiddenError } from '../identity/errors.js';
import { type ClinicScope, type Principal, scopeQuery } from '../identity/principal.js';
import { assetOf, findEntry, postEntry, postingsFor, reverseEntry } from '../ledger/ledger.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { withTransaction } from '../platform/transaction.js';
import { recordCreditMovedOff, recordPaymentConfirmed, requestFlush } from '../settlement/invoiceEffects.js';
import { AmountExceedsReceivedError, ExceptionNotOpenError, InvalidSignatureError, ResolutionNotPendingError, ResolutionNotPossibleError } from './errors.js';
import { type ExceptionRow, getException } from './exceptions.js';

export type ResolutionAction = 'refund' | 'apply_to_invoice' | 'write_off' | 'release' | 'keep_held';
export type ResolutionStatus = 'pending_approval' | 'awaiting_transfer' | 'completed';

export interface ResolutionRow {
  id: string;
  exception_id: string;
  action: ResolutionAction;
  status: ResolutionStatus;
  amount: string;
  to_address: string | null;
  target_invoice_id: string | null;
  reason: string | null;
  signature: string | null;
  created_by: string;
  approved_by: string | null;
  approved_at: Date | null;
  approved_at_block: string | null;
  payment_uri: string | null;
  calldata: string | null;
  refund_tx_hash: string | null;
  completed_at: Date | null;
  created_at: Date;
}

export interface CreateResolutionInput {
  action: ResolutionAction;
  amount?: string;
  to_address?: string;
  signature?: string;
  target_invoice_id?: string;
  reason?: string;
}

/** Exception types whose `amount` is money that reached the clinic and can be given back or moved. */
const RECEIVED_FUNDS: readonly string[] = ['overpayment', 'late_payment', 'payment_to_void_invoice', 'unknown_transfer', 'underpayment_expired'];

/**
 * The message a payer signs (EIP-191 `personal_sign`) to have a refund sent to another address.
 * It names the invoice and the address, so a signature cannot be reused for either.
 */
export function refundAuthorizationMessage(invoiceId: string, refundAddress: Address): string {
  return `ClinicPay refund authorization\nInvoice: ${invoiceId}\nRefund address: ${getAddress(refundAddress)}`;
}

function notOpen(exception: ExceptionRow): ExceptionNotOpenError {
  return new ExceptionNotOpenError(exception.status);
}

function parseAmount(text: string | undefined, fallback: bigint, limit: bigint, param = 'amount'): bigint {
  const amount = text === undefined ? fallback : BigInt(text);
  if (amount <= 0n) throw new ValidationError(`"${param}" must be a positive number of base units.`, param);
  if (amount > limit) {
    throw new AmountExceedsReceivedError(param, amount, limit);
  }
  return amount;
}

function refusalFor(exception: ExceptionRow): string {
  return exception.details.reason === 'unexpected_token'
    ? 'This transfer is of another token: the clinic returns it outside the gateway; write the exception off with a reason.'
    : 'These tokens left the deposit address for someone else; there is nothing to refund or apply. Write it off with a reason.';
}

/**
 * A payment the chain has and the ledger never recorded (an `unknown_transfer` "not in ledger"):
 * before finance's decision takes effect it is brought into the books as received, and the
 * deposit address is swept like any other.
 */
async function recoverUnrecordedPayment(trx: Trx, exception: ExceptionRow, asset: string): Promise<void> {
  if (exception.type !== 'unknown_transfer' || exception.details.reason !== 'not_in_ledger' || exception.details.direction !== 'payment') return;
  await postEntry(trx, {
    idempotencyKey: `recovered:${exception.id}`,
    kind: 'payment',
    clinicId: exception.clinic_id!,
    asset,
    invoiceId: exception.invoice_id ?? undefined,
    postings: postingsFor('payment', BigInt(exception.amount)),
  });
  if (exception.invoice_id !== null) await requestFlush(trx, exception.invoice_id);
}

/** Proposes a resolution; the exception waits for approval. */
export async function createResolution(
  trx: Trx,
  principal: Principal,
  actor: AuditActor,
  exceptionId: string,
  input: CreateResolutionInput,
): Promise<ResolutionRow> {
  const exception = await getException(trx, principal, exceptionId, { forUpdate: true });
  if (exception.status !== 'open') throw notOpen(exception);
  const received = BigInt(exception.amount);
  const row: Partial<ResolutionRow> = {
    id: newId('res'),
    exception_id: exception.id,
    action: input.action,
    status: 'pending_approval',
    created_by: principal.sub,
  };

  if (exception.type === 'address_frozen') {
    throw new ValidationError(
      "A freeze is the issuer's to lift: nothing can be sent from or to the address until then, and the exception resolves itself when reconciliation sees it lifted.",
      'action',
    );
  }
  // A payment held by screening is decided by release or keep_held, and by nothing else; those
  // two decide nothing but such a hold.
  const holdDecision = input.action === 'release' || input.action === 'keep_held';
  const held = exception.type === 'screening_hit' || exception.type === 'travel_rule_mismatch';
  if (held !== holdDecision) {
    throw new ValidationError(
      held
        ? 'A held payment is released or kept held ("release" or "keep_held"), nothing else.'
        : `"${input.action}" decides a held payment; this is a ${exception.type} exception.`,
      'action',
    );
  }
  if (holdDecision) {
    const reason = input.reason?.trim();
    if (!reason) throw new ValidationError('"reason" is required to release a held payment or keep it held.', 'reason');
    Object.assign(row, { amount: exception.amount, reason });
  } else if (input.action === 'refund') {
    if (!RECEIVED_FUNDS.includes(exception.type) || received === 0n || exception.invoice_id === null) {
      throw new ResolutionNotPossibleError('refund_not_possible', `A ${exception.type} exception has no received amount to refund.`, 'action');
    }
    if (exception.details.reason === 'unexpected_token' || exception.details.reason === 'unexpected_outflow') {
      throw new ResolutionNotPossibleError('refund_not_possible', refusalFor(exception), 'action');
    }
    const amount = parseAmount(input.amount, received, received);
    if (exception.from_address === null) throw new ResolutionNotPossibleError('refund_not_possible', 'The paying address is not known.');
    const payer = apiAddress(exception.from_address);
    const to = input.to_address === undefined ? payer : parseAddressParam(input.to_address, 'to_address');
    if (to !== payer) {
      if (input.signature === undefined) {
        throw new ValidationError(
          "A refund to another address than the one that paid needs the payer's signature of the refund authorization message.",
          'signature',
        );
      }
      const valid = await verifyMessage({
        address: payer,
        message: refundAuthorizationMessage(exception.invoice_id, to),
        signature: input.signature as Hex,
      }).catch(() => false);
      if (!valid) {
        throw new InvalidSignatureError(
          `The signature is not the paying address's signature of the authorization for invoice ${exception.invoice_id} and ${to}.`,
        );
      }
      row.signature = input.signature;
    }
    // Never money to a listed address, the payer's own included (422 address_screened).
    await refuseScreenedAddress(trx, to, 'to_address');
    Object.assign(row, { amount: amount.toString(), to_address: storedAddress(to) });
  } else if (input.action === 'apply_to_invoice') {
    if (!RECEIVED_FUNDS.includes(exception.type) || received === 0n || exception.clinic_id === null) {
      throw new ResolutionNotPossibleError('apply_not_possible', `A ${exception.type} exception has no received amount to apply.`, 'action');
    }
    if (exception.details.reason === 'unexpected_token' || exception.details.reason === 'unexpected_outflow') {
      throw new ResolutionNotPossibleError('apply_not_possible', refusalFor(exception), 'action');
    }
    if (input.target_invoice_id === undefined)
      throw new ValidationError('"target_invoice_id" is required to apply a payment to an invoice.', 'target_invoice_id');
    const target = await getInvoice(trx, principal, input.target_invoice_id).catch(() => undefined);
    if (
      !target ||
      target.clinic_id !== exception.clinic_id ||
      target.id === exception.invoice_id ||
      !['open', 'underpaid', 'processing'].includes(target.status)
    ) {
      throw new ResolutionNotPossibleError('invalid_target_invoice', 'The target must be another open invoice of the same clinic.', 'target_invoice_id');
    }
    Object.assign(row, { amount: parseAmount(input.amount, received, received).toString(), target_invoice_id: target.id });
  } else {
    const reason = input.reason?.trim();
    if (!reason) throw new ValidationError('"reason" is required to write an exception off.', 'reason');
    Object.assign(row, { amount: (input.amount === undefined ? received : parseAmount(input.amount, received, received)).toString(), reason });
  }

  const [created] = (await trx('resolutions').insert(row).returning('*')) as ResolutionRow[];
  await trx('exceptions').where({ id: exception.id }).update({ status: 'pending_approval', updated_at: trx.fn.now() });
  await appendAudit(trx, actor, [resolutionAuditEvent('resolution.proposed', created!, exception.clinic_id)]);
  return created!;
}

export async function getResolution(db: Db | Trx, scope: ClinicScope, id: string, { forUpdate = false } = {}): Promise<ResolutionRow> {
  const query = db('resolutions').where({ id }).first();
  const row = (await (forUpdate ? query.forUpdate() : query)) as ResolutionRow | undefined;
  if (!row) throw new NotFoundError('resolution');
  await getException(db, scope, row.exception_id).catch(() => {
    throw new NotFoundError('resolution');
  });
  return row;
}

/**
 * Approves a resolution by a second finance user: a refund becomes a transfer to send (and
 * waits for it on the chain); an application or write-off takes effect at once.
 */
export async function approveResolution(trx: Trx, principal: Principal, actor: AuditActor, id: string, network: PaymentNetwork): Promise<ResolutionRow> {
  const resolution = await getResolution(trx, principal, id, { forUpdate: true });
  if (resolution.status !== 'pending_approval') {
    throw new ResolutionNotPendingError(resolution.status);
  }
  if (resolution.created_by === principal.sub) throw new ForbiddenError('The finance user who proposed a resolution cannot approve it; a second one must.');
  const exception = await getException(trx, principal, resolution.exception_id, { forUpdate: true });
  const amount = BigInt(resolution.amount);
  const approval = { approved_by: principal.sub, approved_at: trx.fn.now() };
  // The exception's own token: a payment in another accepted token is refunded in that token.
  const token = acceptedTokenAt(network, exception.token_address ?? network.token.address)?.address ?? network.token.address;
  const asset = assetOf(network.chainId, token);
  await recoverUnrecordedPayment(trx, exception, asset);

  if (resolution.action === 'release' || resolution.action === 'keep_held') {
    // Two people decided: the hold is released (and the deposit forwarded) or kept.
    const holdId = String(exception.details.hold_id);
    await decideHold(trx, actor, holdId, resolution.action === 'release' ? 'released' : 'kept');
    if (resolution.action === 'release' && exception.invoice_id !== null) await requestFlush(trx, exception.invoice_id);
  } else if (resolution.action === 'refund') {
    const to = apiAddress(resolution.to_address!);
    // Screened again at approval: a list loaded since the proposal counts.
    await refuseScreenedAddress(trx, to, 'to_address');
    const [updated] = (await trx('resolutions')
      .where({ id })
      .update({
        ...approval,
        status: 'awaiting_transfer',
        approved_at_block: ((await readCursor(trx, network.chainId)) ?? 0n).toString(),
        payment_uri: paymentUri({ chainId: network.chainId, token, recipient: to, amount }),
        calldata: encodeFunctionData({ abi: erc20Abi, functionName: 'transfer', args: [to, amount] }),
      })
      .returning('*')) as ResolutionRow[];
    await appendAudit(trx, actor, [resolutionAuditEvent('resolution.approved', updated!, exception.clinic_id)]);
    return updated!;
  }

  if (resolution.action === 'apply_to_invoice') {
    // A memo entry on the clinic's payments account: the amount moves from one invoice to another.
    await postEntry(trx, {
      idempotencyKey: `application:${id}`,
      kind: 'application',
      clinicId: exception.clinic_id!,
      asset,
      invoiceId: resolution.target_invoice_id!,
      resolutionId: id,
      postings: postingsFor('application', amount),
    });
    // A payment the source invoice was credited with now counts for the target instead.
    if (exception.invoice_id !== null && exception.type !== 'unknown_transfer') await recordCreditMovedOff(trx, exception.invoice_id, amount);
    await recordPaymentConfirmed(trx, {
      invoiceId: resolution.target_invoice_id!,
      amount,
      blockTimestamp: new Date(),
      txHash: `resolution:${id}`,
      tolerance: 0n,
      wasPending: false,
    });
  } else if (
    RECEIVED_FUNDS.includes(exception.type) &&
    exception.type !== 'underpayment_expired' &&
    exception.details.reason !== 'unexpected_token' &&
    exception.details.reason !== 'unexpected_outflow' &&
    amount > 0n
  ) {
    await postEntry(trx, {
      idempotencyKey: `write_off:${id}`,
      kind: 'write_off',
      clinicId: exception.clinic_id!,
      asset,
      invoiceId: exception.invoice_id ?? undefined,
      resolutionId: id,
      postings: postingsFor('write_off', amount),
    });
  }
  const [updated] = (await trx('resolutions')
    .where({ id })
    .update({ ...approval, status: 'completed', completed_at: trx.fn.now() })
    .returning('*')) as ResolutionRow[];
  await trx('exceptions').where({ id: exception.id }).update({ status: 'resolved', resolved_at: trx.fn.now(), updated_at: trx.fn.now() });
  await appendAudit(trx, actor, [resolutionAuditEvent('resolution.approved', updated!, exception.clinic_id)]);
  return updated!;
}

export interface MatchRefundsDeps {
  db: Db;
  chain: ChainClient;
  chainId: number;
  /** The pricing token. */
  token: Address;
  /** Every accepted token; default: `token` alone. A refund is paid in its exception's token. */
  tokens?: readonly { address: Address }[];
  finality: Finality;
}

/** Approved refunds whose transfer has not been matched yet, with where they must come from. */
async function awaitingRefunds(db: Db) {
  return (await db('resolutions')
    .join('exceptions', 'exceptions.id', 'resolutions.exception_id')
    .join('invoices', 'invoices.id', 'exceptions.invoice_id')
    .where('resolutions.status', 'awaiting_transfer')
    .select('resolutions.*', 'invoices.settlement_address', 'exceptions.clinic_id', 'exceptions.invoice_id', 'exceptions.token_address')) as (ResolutionRow & {
    settlement_address: string;
    clinic_id: string;
    invoice_id: string;
    token_address: string | null;
  })[];
}

/** How far below the head a matched refund's block is checked against the chain again. */
const REFUND_RECHECK_BLOCKS = 1000n;

/**
 * Completed refunds whose block the chain no longer has (a reorg deeper than finality took the
 * transfer away): the refund's entry is reversed, and the resolution awaits its transfer again
 * (the same transfer mined again, or another the clinic sends). Returns how many were undone.
 */
async function undoReorgedRefunds(deps: MatchRefundsDeps, head: bigint): Promise<number> {
  const { db } = deps;
  const matched = (await db('resolutions')
    .join('exceptions', 'exceptions.id', 'resolutions.exception_id')
    .where('resolutions.status', 'completed')
    .whereNotNull('resolutions.refund_block_hash')
    .where('resolutions.refund_block_number', '>', (head - REFUND_RECHECK_BLOCKS).toString())
    .select('resolutions.id', 'resolutions.refund_block_number', 'resolutions.refund_block_hash', 'resolutions.refund_tx_hash', 'exceptions.clinic_id')) as {
    id: string;
    refund_block_number: string;
    refund_block_hash: string;
    refund_tx_hash: string;
    clinic_id: string;
  }[];
  if (matched.length === 0) return 0;
  // Asked of the node each time, never from a cache: this is the check that the block is still there.
  const numbers = [...new Set(matched.map((row) => BigInt(row.refund_block_number)))];
  // A node that does not answer proves nothing: only a block with another hash undoes a refund.
  const hashes = new Map(
    await Promise.all(numbers.map(async (number) => [number, (await deps.chain.getBlock({ blockNumber: number })).hash.toLowerCase()] as const)),
  );
  let undone = 0;
  for (const refund of matched) {
    if (hashes.get(BigInt(refund.refund_block_number)) === refund.refund_block_hash) continue;
    await withTransaction(db, async (trx) => {
      const current = (await trx('resolutions')
        .where({ id: refund.id })
        .forUpdate()
        .first('status', 'refund_block_hash', 'refund_matches', 'exception_id')) as {
        status: string;
        refund_block_hash: string | null;
        refund_matches: number;
        exception_id: string;
      };
      if (current.status !== 'completed' || current.refund_block_hash !== refund.refund_block_hash) return;
      const entryId = await findEntry(trx, refundEntryKey(refund.id, current.refund_matches - 1));
      if (entryId !== undefined) await reverseEntry(trx, entryId);
      await trx('resolutions')
        .where({ id: refund.id })
        .update({ status: 'awaiting_transfer', refund_tx_hash: null, refund_block_number: null, refund_block_hash: null, completed_at: null });
      await trx('exceptions').where({ id: current.exception_id }).update({ status: 'pending_approval', resolved_at: null, updated_at: trx.fn.now() });
      await appendAudit(trx, SYSTEM.reconciler, [
        {
          action: 'refund.reorged',
          target: { type: 'resolution', id: refund.id },
          clinicId: refund.clinic_id,
          before: {
            status: 'completed',
            refund_transfer: refund.refund_tx_hash,
            block_number: refund.refund_block_number,
            block_hash: refund.refund_block_hash,
          },
          after: { status: 'awaiting_transfer' },
        },
      ]);
      undone += 1;
    });
  }
  return undone;
}

/** The journal entry of a refund's `match`-th match (0: the first): a refund reorged away and matched again posts anew. */
function refundEntryKey(resolutionId: string, match: number): string {
  return match === 0 ? `refund:${resolutionId}` : `refund:${resolutionId}:${match}`;
}

/**
 * Finds the on-chain transfers of approved refunds (from the invoice's settlement address to
 * the refund address, of the exact amount, final) and completes them: a refund journal entry,
 * the resolution completed, the exception resolved. Returns how many completed.
 */
export async function matchRefunds(deps: MatchRefundsDeps): Promise<number> {
  const { db } = deps;
  const head = await deps.chain.getBlockNumber({ cacheTime: 0 });
  await undoReorgedRefunds(deps, head);
  const awaiting = await awaitingRefunds(db);
  const accepted = deps.tokens?.map((token) => token.address) ?? [deps.token];
  const refundToken = (row: { token_address: string | null }): Address => accepted.find((token) => storedAddress(token) === row.token_address) ?? deps.token;
  if (awaiting.length === 0) return 0;
  const final = await finalHead(deps.chain, deps.finality, head);
  const fromBlock = awaiting.reduce((min, row) => (BigInt(row.approved_at_block ?? '0') < min ? BigInt(row.approved_at_block ?? '0') : min), final);
  if (fromBlock > final) return 0;
  const recipients = [...new Set(awaiting.map((row) => apiAddress(row.to_address!)))];
  const logs = [];
  const range = deps.finality.maxBlockRange;
  for (let start = fromBlock; start <= final; start += range) {
    const end = start + range - 1n < final ? start + range - 1n : final;
    logs.push(...(await fetchTransferLogs({ chain: deps.chain, tokens: accepted, fromBlock: start, toBlock: end, toAddresses: recipients })));
  }
  const used = new Set(((await db('resolutions').whereNotNull('refund_tx_hash').pluck('refund_tx_hash')) as string[]).map((hash) => hash.toLowerCase()));
  let completed = 0;
  for (const refund of awaiting) {
    const match = logs.find(
      (log) =>
        storedAddress(log.token) === storedAddress(refundToken(refund)) &&
        storedAddress(log.from) === refund.settlement_address &&
        storedAddress(log.to) === refund.to_address &&
        log.value === BigInt(refund.amount) &&
        log.blockNumber >= BigInt(refund.approved_at_block ?? '0') &&
        !used.has(`${log.txHash.toLowerCase()}:${log.logIndex}`),
    );
    if (!match) continue;
    const reference = `${match.txHash.toLowerCase()}:${match.logIndex}`;
    used.add(reference);
    await withTransaction(db, async (trx) => {
      const current = (await trx('resolutions').where({ id: refund.id }).forUpdate().first('status', 'refund_matches')) as {
        status: string;
        refund_matches: number;
      };
      if (current.status !== 'awaiting_transfer') return;
      await postEntry(trx, {
        idempotencyKey: refundEntryKey(refund.id, current.refund_matches),
        kind: 'refund',
        clinicId: refund.clinic_id,
        asset: assetOf(deps.chainId, refundToken(refund)),
        invoiceId: refund.invoice_id,
        resolutionId: refund.id,
        postings: postingsFor('refund', BigInt(refund.amount)),
      });
      await trx('resolutions')
        .where({ id: refund.id })
        .update({
          status: 'completed',
          refund_tx_hash: reference,
          refund_block_number: match.blockNumber.toString(),
          refund_block_hash: match.blockHash.toLowerCase(),
          refund_matches: current.refund_matches + 1,
          completed_at: trx.fn.now(),
        });
      await trx('exceptions').where({ id: refund.exception_id }).update({ status: 'resolved', resolved_at: trx.fn.now(), updated_at: trx.fn.now() });
      await appendAudit(trx, SYSTEM.reconciler, [
        {
          action: 'refund.matched',
          target: { type: 'resolution', id: refund.id },
          clinicId: refund.clinic_id,
          before: { status: 'awaiting_transfer' },
          after: { status: 'completed', refund_transfer: reference, amount: refund.amount, to_address: refund.to_address },
        },
      ]);
    });
    completed += 1;
  }
  return completed;
}

/**
 * The audit record of a resolution's step: what it does and its state, and the clinic it
 * concerns. The proposer's free-text reason stays out (it may describe a patient).
 */
function resolutionAuditEvent(action: 'resolution.proposed' | 'resolution.approved', row: ResolutionRow, clinicId: string | null): AuditEvent {
  return {
    action,
    target: { type: 'resolution', id: row.id },
    clinicId,
    ...(action === 'resolution.approved' ? { before: { status: 'pending_approval' } } : {}),
    after: {
      exception_id: row.exception_id,
      action: row.action,
      status: row.status,
      amount: row.amount,
      to_address: row.to_address,
      target_invoice_id: row.target_invoice_id,
      proposed_by: row.created_by,
      approved_by: row.approved_by,
    },
  };
}

/** The resolutions proposed for an exception, oldest first. */
export async function resolutionsOf(db: Db | Trx, exceptionId: string): Promise<ResolutionRow[]> {
  return (await db('resolutions').where({ exception_id: exceptionId }).orderBy('created_at')) as ResolutionRow[];
}

/** The API form of a resolution. */
export function presentResolution(row: ResolutionRow): Record<string, unknown> {
  return {
    object: 'resolution',
    id: row.id,
    exception_id: row.exception_id,
    action: row.action,
    status: row.status,
    amount: row.amount,
    to_address: row.to_address ? apiAddress(row.to_address) : null,
    target_invoice_id: row.target_invoice_id,
    reason: row.reason,
    created_by: row.created_by,
    approved_by: row.approved_by,
    approved_at: row.approved_at?.toISOString() ?? null,
    payment_uri: row.payment_uri,
    calldata: row.calldata,
    refund_tx_hash: row.refund_tx_hash?.split(':')[0] ?? null,
    completed_at: row.completed_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
  };
}

/** A proposal waiting for a second person, with what it concerns: finance's approval queue. */
export interface PendingResolution extends ResolutionRow {
  exception_type: string;
  clinic_id: string | null;
}

/** Resolutions waiting for approval in `scope`, oldest first (the oldest waits longest). */
export async function pendingResolutions(db: Db, scope: ClinicScope, limit = 100): Promise<PendingResolution[]> {
  return (await scopeQuery(
    db('resolutions')
      .join('exceptions', 'exceptions.id', 'resolutions.exception_id')
      .where('resolutions.status', 'pending_approval')
      .orderBy('resolutions.created_at')
      .limit(limit)
      .select('resolutions.*', 'exceptions.type as exception_type', 'exceptions.clinic_id'),
    scope,
    'exceptions.clinic_id',
  )) as PendingResolution[];
}
