/**
 * reports/ — renderers that write to a sink: statements (JSON, CSV, PDF, FHIR), their proofs
 * and anchors, the offline verifier, CSV exports. Nothing here knows HTTP.
 *
 * Clinic statements: recorded when asked for, generated from the ledger as a stream of lines,
 * and committed to by an RFC 6962 Merkle root over the RFC 8785 JSON of every line.
 *
 * A statement covers one clinic, the gateway's token, and the half-open period `[from, to)`.
 * Its lines are the opening balance, every invoice issued and every journal entry posted in
 * the period (by time, then id), and the closing balance. Before a line is produced the
 * balances are checked in the database (opening + the period's postings = closing); while
 * lines are produced their postings are summed and checked against the closing balance again.
 *
 * The period is closed (its end is at most the moment it was asked for), so the same statement
 * can be generated again later — for a line's proof, or for its anchor — and must give the
 * same root: {@link StatementNotReproducibleError} otherwise (a deep reorg since, say).
 *
 * Owns tables: statements.
 * May import: platform, domain, audit, identity, chain, ledger, billing, settlement, recon, compliance.
 */
import { Decimal } from 'decimal.js';
import { type AuditActor, appendAudit, auditHeadBefore, catchUpChain } from '../audit/auditLog.js';
import { acceptedTokenAt, type PaymentNetwork } from '../chain/paymentNetwork.js';
import { apiAddress } from '../domain/address.js';
import { canonicalJson } from '../domain/canonicalJson.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import { leafHash, MerkleAccumulator } from '../domain/merkle.js';
import { type ClinicScope, inScope, type Principal, scopeQuery } from '../identity/principal.js';
import { balancesAt } from '../ledger/checkpoints.js';
import { type AccountKind, assetOf } from '../ledger/ledger.js';
import type { Db, Trx } from '../platform/db.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { withTransaction } from '../platform/transaction.js';
import { StatementNotReproducibleError, StatementUnbalancedError } from './errors.js';
import { evidencePath } from './evidence.js';
import {
  type AccountAmounts,
  type EntryLine,
  type EntryLineType,
  type InvoiceLine,
  STATEMENT_ACCOUNT_KINDS,
  type StatementAnchor,
  type StatementHeader,
  type StatementLine,
  type StatementTrailer,
} from './statementDocument.js';

/** Longest period one statement covers: a year, leap day included. */
export const MAX_STATEMENT_DAYS = 366;
const HKD = CURRENCIES.HKD!;
/**
 * Rows fetched per round trip while streaming lines. The rows in flight (a batch arriving, a
 * batch buffered) outlive V8's young-generation collections and are copied by each one: at 2000
 * that copying was the largest part of the collector's time, and the heap grew by ~100 MB.
 */
const STREAM_BATCH = 500;

export interface StatementRow {
  id: string;
  clinic_id: string;
  asset: string;
  period_from: Date;
  period_to: Date;
  generated_at: Date;
  generated_by: string;
  line_count: number | null;
  merkle_root: string | null;
  audit_head_seq: string | null;
  audit_head_hash: string | null;
  anchor_chain_id: number | null;
  anchor_tx_hash: string | null;
  anchor_block_number: string | null;
  anchor_from_address: string | null;
  /** The relayer transaction queued to anchor the root, while or after it is sent. */
  anchor_relayer_tx_id: string | null;
}

export interface StatementPeriodInput {
  clinicId: string;
  from: Date;
  to: Date;
  /** The accepted token (asset) the statement is of; default: the pricing token. */
  token?: string | undefined;
}

/**
 * Checks a requested period: `from` before `to`, at most {@link MAX_STATEMENT_DAYS} long, and
 * not starting in the future; an end after `now` is taken as `now` (a statement covers only
 * what has happened).
 */
export function statementPeriod(from: Date, to: Date, now: Date): { from: Date; to: Date } {
  if (!(from < to)) throw new ValidationError('The period must end after it starts (`to` later than `from`).', 'to');
  if (to.getTime() - from.getTime() > MAX_STATEMENT_DAYS * 86_400_000) {
    throw new ValidationError(`A statement covers at most ${MAX_STATEMENT_DAYS} days; ask for several periods.`, 'to');
  }
  if (!(from < now)) throw new ValidationError('The period starts in the future; there is nothing to state yet.', 'from');
  return { from, to: to > now ? now : to };
}

/** Who may ask for a clinic's statement: auditors and finance, and that clinic's own clinic_admin. */
export const STATEMENT_ROLES = ['auditor', 'finance', 'clinic_admin'] as const;

/**
 * The token a statement's asset is: from the allow-list, or, for a token since taken off it,
 * as the invoices that offered it recorded it.
 */
async function statementToken(db: Db, asset: string, network: PaymentNetwork): Promise<{ address: string; symbol: string; decimals: number }> {
  const address = asset.slice(asset.indexOf(':') + 1);
  const accepted = acceptedTokenAt(network, address);
  if (accepted) return accepted;
  const recorded = (await db.raw(
    `SELECT option->>'symbol' AS symbol, (option->>'decimals')::int AS decimals
       FROM invoices, jsonb_array_elements(accepted_tokens) AS option WHERE option->>'address' = ? LIMIT 1`,
    [address],
  )) as { rows: { symbol: string; decimals: number }[] };
  const legacy = (await db('invoices').where({ token_address: address }).first('token_symbol', 'token_decimals')) as
    | { token_symbol: string; token_decimals: number }
    | undefined;
  const found = recorded.rows[0] ?? (legacy ? { symbol: legacy.token_symbol, decimals: legacy.token_decimals } : undefined);
  if (!found) throw new Error(`statement asset ${asset} is no token the gateway knows`);
  return { address, ...found };
}

/**
 * Records a statement of `clinicId` for the period (and the audit log's head as of its end),
 * and audits the request. The lines are generated by {@link streamStatement}.
 */
export async function recordStatement(
  db: Db,
  principal: Principal,
  actor: AuditActor,
  input: StatementPeriodInput,
  network: PaymentNetwork,
  now = new Date(),
): Promise<StatementRow> {
  if (!inScope(principal, input.clinicId)) throw new NotFoundError('clinic');
  const token = input.token === undefined ? network.token : acceptedTokenAt(network, input.token);
  if (token === undefined) throw new ValidationError('token is not on the allow-list: a statement is of one accepted token', 'token');
  const clinic = await db('clinics').where({ id: input.clinicId }).first('id');
  if (!clinic) throw new NotFoundError('clinic');
  const period = statementPeriod(input.from, input.to, now);
  // The head a statement names is of the chain: what happened before the period ended is on it first.
  await catchUpChain(db);
  return withTransaction(db, async (trx) => {
    const head = await auditHeadBefore(trx, period.to);
    const [row] = (await trx('statements')
      .insert({
        id: newId('stmt'),
        clinic_id: input.clinicId,
        asset: assetOf(network.chainId, token.address),
        period_from: period.from,
        period_to: period.to,
        generated_at: now,
        generated_by: principal.sub,
        audit_head_seq: head?.seq ?? null,
        audit_head_hash: head?.row_hash ?? null,
      })
      .returning('*')) as StatementRow[];
    await appendAudit(trx, actor, [
      {
        action: 'statement.generated',
        target: { type: 'statement', id: row!.id },
        clinicId: input.clinicId,
        after: { period_from: period.from.toISOString(), period_to: period.to.toISOString(), asset: row!.asset },
      },
    ]);
    return row!;
  });
}

/** A recorded statement in `scope`; {@link NotFoundError} otherwise. */
export async function getStatement(db: Db | Trx, scope: ClinicScope, id: string): Promise<StatementRow> {
  const row = (await scopeQuery(db('statements').where({ id }), scope).first()) as StatementRow | undefined;
  if (!row) throw new NotFoundError('statement');
  return row;
}

type Balances = Record<AccountKind, bigint>;

function zeroBalances(): Balances {
  return Object.fromEntries(STATEMENT_ACCOUNT_KINDS.map((kind) => [kind, 0n])) as Balances;
}

/** Balances from the latest checkpoint before `at` and the postings since: the cost does not grow with the clinic's history. */
async function balancesBefore(db: Db | Trx, clinicId: string, asset: string, at: Date): Promise<Balances> {
  const balances = zeroBalances();
  for (const [kind, balance] of await balancesAt(db, clinicId, asset, at)) {
    if (kind in balances) balances[kind as AccountKind] = balance;
  }
  return balances;
}

function heldOf(balances: Balances): bigint {
  return balances.deposits + balances.settlement;
}

function balanceView(balances: Balances, decimals: number): { token_amount: string; hkd_amount: string; accounts: Record<AccountKind, string> } {
  return {
    token_amount: heldOf(balances).toString(),
    hkd_amount: tokenUnitsToFiat(heldOf(balances), decimals, HKD),
    accounts: Object.fromEntries(STATEMENT_ACCOUNT_KINDS.map((kind) => [kind, balances[kind].toString()])) as Record<AccountKind, string>,
  };
}

/**
 * What the period's postings move, per account kind: the clinic's entries of the period by their
 * index, then each one's postings by theirs (the LATERAL subquery's OFFSET 0 keeps the planner
 * from flattening it into a scan of every posting of every clinic, which it prefers as the table
 * grows): the cost follows the period, not the history.
 */
async function periodMovements(db: Db, row: StatementRow): Promise<{ kind: AccountKind; total: string }[]> {
  const result = (await db.raw(
    `SELECT p.kind, sum(p.amount)::text AS total
       FROM journal_entries e
       JOIN LATERAL (
         SELECT a.kind, ps.amount FROM postings ps JOIN ledger_accounts a ON a.id = ps.account_id WHERE ps.entry_id = e.id AND ps.asset = ?
         OFFSET 0
       ) p ON true
      WHERE e.clinic_id = ? AND e.created_at >= ? AND e.created_at < ?
      GROUP BY p.kind`,
    [row.asset, row.clinic_id, row.period_from, row.period_to],
  )) as { rows: { kind: AccountKind; total: string }[] };
  return result.rows;
}

/** Everything the lines are generated from, read once before the first line. */
export interface StatementContext {
  row: StatementRow;
  header: StatementHeader;
  opening: Balances;
  closing: Balances;
}

/**
 * Reads the clinic, the balances at both ends of the period, and checks in the database that
 * the period's postings take the opening balances to the closing ones.
 */
export async function statementContext(db: Db, row: StatementRow, network: PaymentNetwork): Promise<StatementContext> {
  const clinic = (await db('clinics').where({ id: row.clinic_id }).first('id', 'name', 'settlement_address')) as {
    id: string;
    name: string;
    settlement_address: string;
  };
  const [opening, closing, movements] = await Promise.all([
    balancesBefore(db, row.clinic_id, row.asset, row.period_from),
    balancesBefore(db, row.clinic_id, row.asset, row.period_to),
    periodMovements(db, row),
  ]);
  for (const kind of STATEMENT_ACCOUNT_KINDS) {
    const moved = BigInt(movements.find((movement) => movement.kind === kind)?.total ?? '0');
    if (opening[kind] + moved !== closing[kind]) {
      throw new StatementUnbalancedError(`statement ${row.id}: ${kind} opens at ${opening[kind]}, moves ${moved}, but closes at ${closing[kind]}`);
    }
  }
  const token = await statementToken(db, row.asset, network);
  const decimals = token.decimals;
  const header: StatementHeader = {
    object: 'statement',
    id: row.id,
    version: 1,
    clinic: { id: clinic.id, name: clinic.name, settlement_address: apiAddress(clinic.settlement_address) },
    period: { from: row.period_from.toISOString(), to: row.period_to.toISOString() },
    generated_at: row.generated_at.toISOString(),
    currency: 'HKD',
    asset: row.asset,
    chain_id: network.chainId,
    token: { address: apiAddress(token.address), symbol: token.symbol, decimals },
    opening_balance: balanceView(opening, decimals),
    closing_balance: balanceView(closing, decimals),
    audit_log_head: row.audit_head_seq === null ? null : { seq: String(row.audit_head_seq), row_hash: row.audit_head_hash! },
  };
  return { row, header, opening, closing };
}

/**
 * One row of {@link lineRowsQuery}, every column as Postgres's text (see {@link AS_TEXT}): an
 * invoice, or an entry with its postings netted per account kind. Times are already ISO 8601
 * (`at`, the time as stored, only orders the rows and is not read).
 */
type LineRow = {
  source: 'invoice' | 'entry';
  occurred_at: string;
  id: string;
  invoice_id: string | null;
  invoice_number: string | null;
  currency: string | null;
  amount_due: string | null;
  token_amount_due: string | null;
  expires_at: string | null;
  kind: EntryLineType | null;
  reverses_entry_id: string | null;
  resolution_id: string | null;
  /** The largest posting's absolute amount. */
  size: string | null;
  transfer_id: string | null;
  chain_id: string | null;
  tx_hash: string | null;
  log_index: string | null;
  block_number: string | null;
  block_hash: string | null;
  block_time: string | null;
  token_address: string | null;
  from_address: string | null;
  to_address: string | null;
  transfer_amount: string | null;
  confirmations: string | null;
  refund_tx_hash: string | null;
  transfer_kind: string | null;
} & Record<AccountKind, string | null>;

/**
 * The line query's columns are taken as Postgres sends them, unparsed: parsing a timestamp into a
 * Date only to write it out again costs about as much as hashing the line, so the query writes
 * the ISO 8601 text itself ({@link isoText}), and the few integers are read with Number.
 */
const AS_TEXT = { getTypeParser: () => (text: string) => text };

/** SQL for `column` (timestamptz) as Date.prototype.toISOString writes it; `:iso` is {@link ISO_FORMAT}. */
const isoText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', :iso)`;
const ISO_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"';

/** The entry's net postings to each account kind, one column each (null: none). */
const NETTED_POSTINGS = STATEMENT_ACCOUNT_KINDS.map((kind) => `sum(ps.amount) FILTER (WHERE a.kind = '${kind}')::text AS ${kind}`).join(
  ',\n                  ',
);
const NO_POSTINGS = STATEMENT_ACCOUNT_KINDS.map((kind) => `NULL AS ${kind}`).join(', ');

/**
 * Invoices issued and entries posted in the period, in statement order (time, then id), without
 * sorting them: each half is read in that order from its (clinic_id, created_at, id) index, an
 * index-only scan (migration 0027), and Postgres merges the two (Merge Append) by `at`, the time
 * as stored. The first line comes at once and nothing spills, however long the period.
 *
 * Each entry's postings, transfer and invoice number are looked up by its keys, each in a LATERAL
 * subquery the planner cannot flatten into a join (an aggregate, or OFFSET 0): as joins it prefers
 * hashing whole tables (every transfer of every clinic, the history rather than the period) and
 * sorting what comes out. The postings are netted per account kind by one plain aggregate. The
 * resolution, which few entries have, is looked up only for those.
 *
 * The invoices are matched on the asset's two columns rather than on the asset's text: the planner
 * can estimate those, and with the text's guess (a handful of rows) it sorts rather than walk the index.
 */
function lineRowsQuery(db: Db, row: StatementRow) {
  const separator = row.asset.indexOf(':');
  return db.raw(
    `(SELECT i.created_at AS at, 'invoice' AS source, ${isoText('i.created_at')} AS occurred_at, i.id, i.id AS invoice_id,
              i.number AS invoice_number, i.currency, i.amount_due::text AS amount_due, i.token_amount_due::text AS token_amount_due,
              ${isoText('i.expires_at')} AS expires_at, NULL AS kind, NULL AS reverses_entry_id, NULL AS resolution_id, ${NO_POSTINGS}, NULL AS size,
              NULL AS transfer_id, NULL::int AS chain_id, NULL AS tx_hash, NULL::int AS log_index, NULL AS block_number, NULL AS block_hash,
              NULL AS block_time, NULL AS token_address, NULL AS from_address, NULL AS to_address, NULL AS transfer_amount,
              NULL::int AS confirmations, NULL AS refund_tx_hash, NULL AS transfer_kind
         FROM invoices i
        WHERE i.clinic_id = :clinic AND i.token_chain_id = :chainId AND i.token_address = :tokenAddress
          AND i.created_at >= :from AND i.created_at < :to
        ORDER BY i.created_at, i.id)
     UNION ALL
     (SELECT e.created_at, 'entry', ${isoText('e.created_at')}, e.id, e.invoice_id, inv.number, NULL, NULL, NULL, NULL,
              e.kind, e.reverses_entry_id, e.resolution_id, ${STATEMENT_ACCOUNT_KINDS.map((kind) => `p.${kind}`).join(', ')}, p.size,
              t.id, t.chain_id, t.tx_hash, t.log_index, COALESCE(g.block_number, t.block_number)::text, COALESCE(g.block_hash, t.block_hash),
              ${isoText('COALESCE(g.block_timestamp, t.block_timestamp)')}, COALESCE(g.token_address, t.token_address),
              COALESCE(g.from_address, t.from_address), COALESCE(g.to_address, t.to_address), COALESCE(g.amount, t.amount)::text, t.confirmations,
              CASE WHEN e.resolution_id IS NOT NULL THEN (SELECT refund_tx_hash FROM resolutions WHERE id = e.resolution_id) END, COALESCE(g.kind, t.kind)
         FROM journal_entries e
         JOIN LATERAL (
           SELECT ${NETTED_POSTINGS},
                  max(abs(ps.amount))::text AS size, count(*) AS postings
             FROM postings ps JOIN ledger_accounts a ON a.id = ps.account_id
            WHERE ps.entry_id = e.id AND ps.asset = :asset
         ) AS p ON p.postings > 0
         LEFT JOIN LATERAL (SELECT number FROM invoices WHERE id = e.invoice_id OFFSET 0) AS inv ON true
         LEFT JOIN LATERAL (SELECT * FROM transfers WHERE id = e.transfer_id OFFSET 0) AS t ON true
         -- A transfer that came back after a reorg: the entry (or the entry a reversal reverses)
         -- names the generation it was posted for in its key (kind:transfer:generation), and an
         -- earlier generation is shown as it was. Looked up only for transfers that came back.
         LEFT JOIN LATERAL (
           SELECT tg.* FROM transfer_generations tg
            WHERE t.generation > 0 AND tg.transfer_id = t.id
              AND tg.generation = (SELECT CASE WHEN k.idempotency_key ~ '^[a-z_]+:[a-z]+_[0-9a-f]+:[0-9]+$' THEN split_part(k.idempotency_key, ':', 3)::int END
                                     FROM journal_entries k WHERE k.id = COALESCE(e.reverses_entry_id, e.id))
         ) AS g ON true
        WHERE e.clinic_id = :clinic AND e.created_at >= :from AND e.created_at < :to
        ORDER BY e.created_at, e.id)
     ORDER BY at, id`,
    {
      clinic: row.clinic_id,
      asset: row.asset,
      chainId: Number(row.asset.slice(0, separator)),
      tokenAddress: row.asset.slice(separator + 1),
      from: row.period_from,
      to: row.period_to,
      iso: ISO_FORMAT,
    },
  );
}

/*
 * The lines below are built with their keys in RFC 8785 order (UTF-16 code units, at every
 * level): canonicalJson then writes them with one JSON.stringify, several times faster than key
 * by key. Keys out of order would still give the same text, only slower.
 */

/** The account kinds in RFC 8785 key order, for the postings of an entry line. */
const SORTED_ACCOUNT_KINDS = [...STATEMENT_ACCOUNT_KINDS].sort();

function entryLine(line: number, row: LineRow, asset: string, decimals: number): EntryLine {
  const postings: AccountAmounts = {};
  for (const kind of SORTED_ACCOUNT_KINDS) {
    const amount = row[kind];
    if (amount !== null && amount !== '0') postings[kind] = amount;
  }
  const size = BigInt(row.size ?? '0');
  const refund = row.refund_tx_hash?.split(':');
  return {
    asset,
    entry_id: row.id,
    evidence: row.transfer_kind === 'payment' && row.transfer_id !== null ? evidencePath(row.transfer_id) : null,
    hkd_amount: tokenUnitsToFiat(size, decimals, HKD),
    invoice_id: row.invoice_id,
    invoice_number: row.invoice_number === null ? null : Number(row.invoice_number),
    line,
    occurred_at: row.occurred_at,
    postings,
    refund_transfer: refund && refund.length === 2 ? { log_index: Number(refund[1]), tx_hash: refund[0]! } : null,
    resolution_id: row.resolution_id,
    reverses_entry_id: row.reverses_entry_id,
    token_amount: size.toString(),
    transfer:
      row.transfer_id === null
        ? null
        : {
            amount: row.transfer_amount!,
            block_hash: row.block_hash!,
            block_number: row.block_number!,
            block_time: row.block_time!,
            chain_id: Number(row.chain_id),
            confirmations: row.confirmations === null ? null : Number(row.confirmations),
            from_address: row.from_address!,
            log_index: Number(row.log_index),
            to_address: row.to_address!,
            token_address: row.token_address!,
            transfer_id: row.transfer_id,
            tx_hash: row.tx_hash!,
          },
    type: row.kind!,
  };
}

function invoiceLine(line: number, row: LineRow, asset: string): InvoiceLine {
  return {
    asset,
    currency: row.currency!,
    expires_at: row.expires_at!,
    hkd_amount: new Decimal(row.amount_due!).toFixed(HKD.minorUnits),
    invoice_id: row.id,
    invoice_number: Number(row.invoice_number),
    line,
    occurred_at: row.occurred_at,
    token_amount: row.token_amount_due!,
    type: 'invoice',
  };
}

/**
 * The lines of a statement, in order, generated from the database row by row (memory stays flat
 * however long the period). Throws {@link StatementUnbalancedError} after the last entry if the
 * lines' postings do not take the opening balances to the closing ones.
 */
export async function* statementLines(db: Db, context: StatementContext): AsyncGenerator<StatementLine> {
  const { header, row } = context;
  const decimals = header.token.decimals;
  const balanceLine = (balances: Balances) => ({
    clinic_id: header.clinic.id,
    asset: header.asset,
    balances: balanceView(balances, decimals).accounts,
    token_amount: heldOf(balances).toString(),
    hkd_amount: tokenUnitsToFiat(heldOf(balances), decimals, HKD),
  });
  yield { line: 1, type: 'opening_balance', occurred_at: header.period.from, ...balanceLine(context.opening) };
  const running = { ...context.opening };
  let line = 1;
  // knex types `stream()` without the options pg-query-stream takes (rows per fetch, buffered rows, type parsers).
  const query = lineRowsQuery(db, row) as unknown as {
    stream(options: { batchSize: number; highWaterMark: number; types: typeof AS_TEXT }): AsyncIterable<LineRow>;
  };
  const stream = query.stream({ batchSize: STREAM_BATCH, highWaterMark: STREAM_BATCH, types: AS_TEXT });
  for await (const item of stream) {
    line += 1;
    if (item.source === 'invoice') {
      yield invoiceLine(line, item, header.asset);
      continue;
    }
    const entry = entryLine(line, item, header.asset, decimals);
    for (const kind of STATEMENT_ACCOUNT_KINDS) {
      const amount = entry.postings[kind];
      if (amount !== undefined) running[kind] += BigInt(amount);
    }
    yield entry;
  }
  for (const kind of STATEMENT_ACCOUNT_KINDS) {
    if (running[kind] !== context.closing[kind]) {
      throw new StatementUnbalancedError(`statement ${row.id}: the lines take ${kind} to ${running[kind]}, the closing balance is ${context.closing[kind]}`);
    }
  }
  yield { line: line + 1, type: 'closing_balance', occurred_at: header.period.to, ...balanceLine(context.closing), audit_log_head: header.audit_log_head };
}

/** Folds lines into the Merkle root as they pass, so any rendering can end with the trailer. */
export class StatementSealer {
  private readonly tree = new MerkleAccumulator();

  /** Adds the next line; returns its leaf hash and its canonical JSON (the text hashed, and the JSON form's line). */
  seal(line: StatementLine): { leaf: Buffer; text: string } {
    const text = canonicalJson(line);
    const leaf = leafHash(text);
    this.tree.push(leaf);
    return { leaf, text };
  }

  add(line: StatementLine): Buffer {
    return this.seal(line).leaf;
  }

  trailer(anchor: StatementAnchor | null): StatementTrailer {
    return {
      line_count: this.tree.size,
      merkle_root: this.tree.root().toString('hex'),
      merkle: { tree: 'RFC 6962', hash: 'SHA-256', leaf: 'RFC 8785 JSON of the line' },
      anchor,
    };
  }
}

export function anchorOf(row: StatementRow): StatementAnchor | null {
  if (row.anchor_tx_hash === null) return null;
  return {
    chain_id: row.anchor_chain_id!,
    tx_hash: row.anchor_tx_hash,
    block_number: String(row.anchor_block_number),
    from_address: apiAddress(row.anchor_from_address!),
  };
}

/**
 * Records the root of a statement generated to its end, the first time (audited); a later
 * generation that gives another root means the period's ledger changed.
 */
export async function sealStatement(db: Db, row: StatementRow, trailer: StatementTrailer, actor: AuditActor): Promise<void> {
  if (row.merkle_root !== null) {
    if (row.merkle_root !== trailer.merkle_root || row.line_count !== trailer.line_count) throw new StatementNotReproducibleError(row.id);
    return;
  }
  await withTransaction(db, async (trx) => {
    const updated = await trx('statements')
      .where({ id: row.id })
      .whereNull('merkle_root')
      .update({ merkle_root: trailer.merkle_root, line_count: trailer.line_count });
    if (updated === 0) return;
    await appendAudit(trx, actor, [
      {
        action: 'statement.sealed',
        target: { type: 'statement', id: row.id },
        clinicId: row.clinic_id,
        after: { merkle_root: trailer.merkle_root, line_count: trailer.line_count },
      },
    ]);
  });
  row.merkle_root = trailer.merkle_root;
  row.line_count = trailer.line_count;
}
