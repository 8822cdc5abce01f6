/**
 * ledger/ — the books: journal entries, postings, the posting rules, balances.
 *
 * The double-entry ledger: journal entries with postings in base units per asset.
 *
 * Every entry sums to zero per asset — checked here before writing and enforced again by the
 * database at commit (a deferred constraint trigger). Posted rows are never updated or deleted
 * (the database refuses); a correction is a reversing entry. Entries are keyed by what caused
 * them, so posting the same cause twice is a no-op.
 *
 * Accounts, per clinic and asset:
 * - `deposits`: tokens held at the clinic's invoice deposit addresses (on-chain, non-custodial);
 * - `settlement`: tokens forwarded to the clinic's own settlement wallet;
 * - `patient_payments`: the counter-account of what patients paid (credit balance);
 * - `written_off`: received amounts finance decided to keep as the clinic's (credit balance);
 * - `unexpected_outflows`: tokens that left a deposit address for anywhere but the clinic.
 *
 * Owns tables: ledger_accounts, journal_entries, postings, ledger_days_closed, balance_checkpoints.
 * May import: platform, domain, identity.
 */

import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { Db, Trx } from '../platform/db.js';
import { newId } from '../platform/ids.js';
import { keysetPage, type Page, type PageRequest } from '../platform/pagination.js';

export const ACCOUNT_KINDS = ['deposits', 'settlement', 'patient_payments', 'written_off', 'unexpected_outflows'] as const;
export type AccountKind = (typeof ACCOUNT_KINDS)[number];

export type EntryKind = 'payment' | 'forward' | 'outflow' | 'reversal' | 'refund' | 'application' | 'write_off';

/**
 * The posting rules: which account each kind of entry debits and which it credits. A reversal
 * has no rule of its own; it mirrors the entry it reverses ({@link reverseEntry}).
 */
export const POSTING_RULES = {
  /** A patient's payment reached a deposit address. */
  payment: { debit: 'deposits', credit: 'patient_payments' },
  /** A deposit address forwarded to the clinic's settlement wallet. */
  forward: { debit: 'settlement', credit: 'deposits' },
  /** Tokens left a deposit address for anywhere but the clinic. */
  outflow: { debit: 'unexpected_outflows', credit: 'deposits' },
  /** The clinic's wallet sent a refund back to a patient. */
  refund: { debit: 'patient_payments', credit: 'settlement' },
  /** A received amount counts for another invoice: a memo entry on the payments account. */
  application: { debit: 'patient_payments', credit: 'patient_payments' },
  /** Finance keeps a received amount as the clinic's. */
  write_off: { debit: 'patient_payments', credit: 'written_off' },
} as const satisfies Record<Exclude<EntryKind, 'reversal'>, { debit: AccountKind; credit: AccountKind }>;

/** The two postings of an entry of `kind` that moves `amount` base units. */
export function postingsFor(kind: keyof typeof POSTING_RULES, amount: bigint): PostingInput[] {
  const rule = POSTING_RULES[kind];
  return [
    { kind: rule.debit, amount },
    { kind: rule.credit, amount: -amount },
  ];
}

export class UnbalancedEntryError extends Error {
  override name = 'UnbalancedEntryError';
}

/** The ledger's name for a token: `<chain id>:<lower-case address>`. */
export function assetOf(chainId: number, tokenAddress: string): string {
  return `${chainId}:${tokenAddress.toLowerCase()}`;
}

/** The id of a clinic's account of `kind` in `asset`. */
export function accountId(clinicId: string, kind: AccountKind, asset: string): string {
  return `clinic:${clinicId}:${kind}:${asset}`;
}

export interface PostingInput {
  kind: AccountKind;
  /** Signed base units: positive debits, negative credits. */
  amount: bigint;
}

export interface PostEntryParameters {
  /** What caused the entry; a second post with the same key returns the first entry. */
  idempotencyKey: string;
  kind: EntryKind;
  clinicId: string;
  asset: string;
  postings: readonly PostingInput[];
  invoiceId?: string | undefined;
  transferId?: string | undefined;
  reversesEntryId?: string | undefined;
  resolutionId?: string | undefined;
}

export interface PostEntryReturnType {
  entryId: string;
  /** False when the key had been posted before and nothing was written. */
  created: boolean;
}

/**
 * Posts one balanced entry inside `trx`.
 *
 * @example
 * await postEntry(trx, { idempotencyKey: `payment:${transferId}:${blockHash}`, kind: 'payment', clinicId, asset,
 *   postings: [{ kind: 'deposits', amount }, { kind: 'patient_payments', amount: -amount }] });
 */
export async function postEntry(trx: Trx, params: PostEntryParameters): Promise<PostEntryReturnType> {
  const written = await postEntries(trx, [params]);
  const entryId = written.get(params.idempotencyKey);
  if (entryId !== undefined) return { entryId, created: true };
  return { entryId: (await findEntry(trx, params.idempotencyKey))!, created: false };
}

/**
 * Posts many balanced entries inside `trx` with one statement per table; entries whose key was
 * posted before are skipped. Returns the entries written now: idempotency key → entry id.
 */
export async function postEntries(trx: Trx, entries: readonly PostEntryParameters[]): Promise<Map<string, string>> {
  if (entries.length === 0) return new Map();
  for (const params of entries) {
    const total = params.postings.reduce((sum, posting) => sum + posting.amount, 0n);
    if (params.postings.length < 2 || total !== 0n || params.postings.some((posting) => posting.amount === 0n)) {
      throw new UnbalancedEntryError(`entry ${params.idempotencyKey} does not balance (sum ${total}, ${params.postings.length} postings)`);
    }
  }
  const rows = entries.map((params) => ({
    id: newId('je'),
    idempotency_key: params.idempotencyKey,
    kind: params.kind,
    clinic_id: params.clinicId,
    invoice_id: params.invoiceId ?? null,
    transfer_id: params.transferId ?? null,
    reverses_entry_id: params.reversesEntryId ?? null,
    resolution_id: params.resolutionId ?? null,
  }));
  const inserted = (await trx.raw(
    `INSERT INTO journal_entries (id, idempotency_key, kind, clinic_id, invoice_id, transfer_id, reverses_entry_id, resolution_id)
     SELECT * FROM jsonb_to_recordset(?::jsonb) AS x(id text, idempotency_key text, kind text, clinic_id text, invoice_id text, transfer_id text, reverses_entry_id text, resolution_id text)
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key`,
    [JSON.stringify(rows)],
  )) as { rows: { id: string; idempotency_key: string }[] };
  const created = new Map(inserted.rows.map((row) => [row.idempotency_key, row.id]));
  const fresh = entries.filter((params) => created.has(params.idempotencyKey));
  if (fresh.length === 0) return created;
  const accounts = new Map<string, { id: string; clinic_id: string; kind: AccountKind; asset: string }>();
  const postings: { entry_id: string; account_id: string; asset: string; amount: string }[] = [];
  for (const params of fresh) {
    for (const posting of params.postings) {
      const id = accountId(params.clinicId, posting.kind, params.asset);
      accounts.set(id, { id, clinic_id: params.clinicId, kind: posting.kind, asset: params.asset });
      postings.push({ entry_id: created.get(params.idempotencyKey)!, account_id: id, asset: params.asset, amount: posting.amount.toString() });
    }
  }
  await trx('ledger_accounts')
    .insert([...accounts.values()])
    .onConflict('id')
    .ignore();
  // One statement however many entries, the postings numbered in the order given.
  await trx.raw(
    `INSERT INTO postings (entry_id, account_id, asset, amount)
     SELECT entry_id, account_id, asset, amount
       FROM ROWS FROM (jsonb_to_recordset(?::jsonb) AS (entry_id text, account_id text, asset text, amount numeric)) WITH ORDINALITY AS x(entry_id, account_id, asset, amount, position)
      ORDER BY position`,
    [JSON.stringify(postings)],
  );
  return created;
}

/** Net base units each of `invoiceIds` holds at its deposit address according to the ledger. */
export async function invoiceDepositBalances(db: Db | Trx, invoiceIds: readonly string[]): Promise<Map<string, bigint>> {
  const balances = new Map<string, bigint>(invoiceIds.map((id) => [id, 0n]));
  if (invoiceIds.length === 0) return balances;
  const rows = (await db('postings')
    .join('journal_entries', 'journal_entries.id', 'postings.entry_id')
    .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
    .whereRaw('journal_entries.invoice_id = ANY(?)', [[...invoiceIds]])
    .where('ledger_accounts.kind', 'deposits')
    .groupBy('journal_entries.invoice_id')
    .select('journal_entries.invoice_id', db.raw('sum(postings.amount)::text AS balance'))) as { invoice_id: string; balance: string }[];
  for (const row of rows) balances.set(row.invoice_id, BigInt(row.balance));
  return balances;
}

/** The assets each invoice's deposit holds on the books (a positive deposits balance). */
export async function invoiceDepositAssets(db: Db | Trx, invoiceIds: readonly string[]): Promise<Map<string, Set<string>>> {
  const held = new Map<string, Set<string>>();
  if (invoiceIds.length === 0) return held;
  const rows = (await db('postings')
    .join('journal_entries', 'journal_entries.id', 'postings.entry_id')
    .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
    .whereRaw('journal_entries.invoice_id = ANY(?)', [[...invoiceIds]])
    .where('ledger_accounts.kind', 'deposits')
    .groupBy('journal_entries.invoice_id', 'postings.asset')
    .havingRaw('sum(postings.amount) > 0')
    .select('journal_entries.invoice_id', 'postings.asset')) as { invoice_id: string; asset: string }[];
  for (const row of rows) held.set(row.invoice_id, (held.get(row.invoice_id) ?? new Set()).add(row.asset));
  return held;
}

/** The journal entries that record transfer `transferId` (postings and their reversals), oldest first. */
export async function entriesOfTransfer(db: Db | Trx, transferId: string): Promise<Pick<EntryRow, 'id' | 'kind' | 'reverses_entry_id' | 'created_at'>[]> {
  return (await db('journal_entries')
    .where({ transfer_id: transferId })
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .select('id', 'kind', 'reverses_entry_id', 'created_at')) as Pick<EntryRow, 'id' | 'kind' | 'reverses_entry_id' | 'created_at'>[];
}

/** The entry posted under `idempotencyKey`, if any. */
export async function findEntry(db: Db | Trx, idempotencyKey: string): Promise<string | undefined> {
  const row = (await db('journal_entries').where({ idempotency_key: idempotencyKey }).first('id')) as { id: string } | undefined;
  return row?.id;
}

/** Posts the mirror image of `entryId` (every amount negated), once. */
export async function reverseEntry(trx: Trx, entryId: string): Promise<PostEntryReturnType> {
  const entry = (await trx('journal_entries').where({ id: entryId }).first()) as
    | { id: string; clinic_id: string; invoice_id: string | null; transfer_id: string | null }
    | undefined;
  if (!entry) throw new Error(`no journal entry ${entryId} to reverse`);
  const postings = (await trx('postings')
    .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
    .where({ entry_id: entryId })
    .select('ledger_accounts.kind', 'postings.asset', 'postings.amount')) as {
    kind: AccountKind;
    asset: string;
    amount: string;
  }[];
  return postEntry(trx, {
    idempotencyKey: `reversal:${entryId}`,
    kind: 'reversal',
    clinicId: entry.clinic_id,
    asset: postings[0]!.asset,
    invoiceId: entry.invoice_id ?? undefined,
    transferId: entry.transfer_id ?? undefined,
    reversesEntryId: entryId,
    postings: postings.map((posting) => ({ kind: posting.kind, amount: -BigInt(posting.amount) })),
  });
}

export interface AccountBalance {
  accountId: string;
  clinicId: string;
  kind: AccountKind;
  asset: string;
  /** Sum of the account's postings: what the ledger says, derived, never cached. */
  balance: bigint;
}

/** Balances of every account (of one clinic when `clinicId` is given), derived from postings. */
export async function accountBalances(db: Db | Trx, clinicId?: string): Promise<AccountBalance[]> {
  const query = db('ledger_accounts')
    .leftJoin('postings', 'postings.account_id', 'ledger_accounts.id')
    .groupBy('ledger_accounts.id')
    .orderBy('ledger_accounts.id')
    .select(
      'ledger_accounts.id',
      'ledger_accounts.clinic_id',
      'ledger_accounts.kind',
      'ledger_accounts.asset',
      db.raw('coalesce(sum(postings.amount), 0)::text AS balance'),
    );
  const rows = (await scopeQuery(query, { clinicId }, 'ledger_accounts.clinic_id')) as {
    id: string;
    clinic_id: string;
    kind: AccountKind;
    asset: string;
    balance: string;
  }[];
  return rows.map((row) => ({ accountId: row.id, clinicId: row.clinic_id, kind: row.kind, asset: row.asset, balance: BigInt(row.balance) }));
}

/** Net base units an invoice holds at its deposit address according to the ledger. */
export async function invoiceDepositBalance(db: Db | Trx, invoiceId: string): Promise<bigint> {
  const row = (await db('postings')
    .join('journal_entries', 'journal_entries.id', 'postings.entry_id')
    .join('ledger_accounts', 'ledger_accounts.id', 'postings.account_id')
    .where({ 'journal_entries.invoice_id': invoiceId, 'ledger_accounts.kind': 'deposits' })
    .first(db.raw('coalesce(sum(postings.amount), 0)::text AS balance'))) as { balance: string };
  return BigInt(row.balance);
}

export interface EntryRow {
  id: string;
  kind: EntryKind;
  clinic_id: string;
  invoice_id: string | null;
  transfer_id: string | null;
  reverses_entry_id: string | null;
  created_at: Date;
}

export interface EntryFilters {
  invoiceId?: string;
  kind?: EntryKind;
}

/** One page of the journal entries in `scope`, newest first, each with its postings. */
export async function listEntries(
  db: Db,
  scope: ClinicScope,
  filters: EntryFilters,
  page: PageRequest,
): Promise<Page<EntryRow & { postings: { account_id: string; asset: string; amount: string }[] }>> {
  const query = scopeQuery(db('journal_entries'), scope);
  if (filters.invoiceId !== undefined) query.where({ invoice_id: filters.invoiceId });
  if (filters.kind !== undefined) query.where({ kind: filters.kind });
  const result = await keysetPage<EntryRow>(query, page, scopeQuery(db('journal_entries'), scope));
  const postings = result.data.length
    ? ((await db('postings')
        .whereIn(
          'entry_id',
          result.data.map((entry) => entry.id),
        )
        .orderBy('id')
        .select('entry_id', 'account_id', 'asset', db.raw('amount::text AS amount'))) as {
        entry_id: string;
        account_id: string;
        asset: string;
        amount: string;
      }[])
    : [];
  return {
    hasMore: result.hasMore,
    data: result.data.map((entry) => ({
      ...entry,
      postings: postings.filter((posting) => posting.entry_id === entry.id).map(({ account_id, asset, amount }) => ({ account_id, asset, amount })),
    })),
  };
}
