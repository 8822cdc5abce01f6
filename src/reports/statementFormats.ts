/**
 * Statement renderings that are written as the lines arrive: JSON (the verifiable form) and CSV
 * (for spreadsheets). The PDF and FHIR forms live in their own modules.
 */
import type { Writable } from 'node:stream';
import { writeStreamed } from '../platform/streaming.js';
import { csvLine } from './csv.js';
import { STATEMENT_ACCOUNT_KINDS, type StatementHeader, type StatementLine, type StatementTrailer } from './statementDocument.js';

/** A statement's lines as they pass, each with its leaf hash and canonical JSON, and the trailer once they have. */
export interface SealedLines {
  lines: AsyncIterable<{ line: StatementLine; leaf: Buffer; text: string }>;
  trailer(): StatementTrailer;
}

/** Bytes gathered before a write: one socket write per ~64 kB rather than per line. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Collects small pieces as UTF-8 and writes them in chunks, waiting for the socket when it is
 * full. Each piece is encoded straight into the chunk: one copy, where joining the strings and
 * having the socket encode the result made two.
 */
class ChunkedWriter {
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  private readonly filled: Buffer[] = [];

  constructor(private readonly res: Writable) {}

  /**
   * Adds `piece`; true once a chunk is filled, for the caller to {@link flush}. Not itself async:
   * a statement adds a piece per line, and awaiting each would cost more than the piece.
   */
  add(piece: string): boolean {
    // UTF-8 takes at most 3 bytes per UTF-16 code unit: a piece that may not fit starts a new chunk.
    if (this.used + 3 * piece.length > this.chunk.length) {
      if (this.used > 0) this.filled.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, 3 * piece.length));
      this.used = 0;
    }
    this.used += this.chunk.write(piece, this.used);
    return this.filled.length > 0;
  }

  /** Writes the filled chunks; `all` writes the one being filled too (at the end). */
  async flush(all = false): Promise<void> {
    if (all && this.used > 0) {
      this.filled.push(this.chunk.subarray(0, this.used));
      this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      this.used = 0;
    }
    for (const chunk of this.filled.splice(0)) await writeStreamed(this.res, chunk);
  }
}

/**
 * The JSON document: the header's fields, `lines` (one per text line, for people reading it),
 * then `line_count`, `merkle_root`, `merkle` and `anchor`. Key order is free in JSON; the root
 * comes last because it is known last.
 */
export async function writeStatementJson(res: Writable, header: StatementHeader, sealed: SealedLines): Promise<void> {
  const out = new ChunkedWriter(res);
  const opening = JSON.stringify(header);
  out.add(`${opening.slice(0, -1)},"lines":[\n`);
  let first = true;
  // Each line is written as its canonical JSON: the very text its leaf hash covers.
  for await (const { text } of sealed.lines) {
    if (!first) out.add(',\n');
    if (out.add(text)) await out.flush();
    first = false;
  }
  const trailer = JSON.stringify(sealed.trailer());
  out.add(`\n],${trailer.slice(1)}\n`);
  await out.flush(true);
}

/**
 * CSV columns. Account columns hold each entry's postings (signed base units); on the opening
 * and closing rows they hold the balances. `leaf_hash` is the line's Merkle leaf (see the JSON
 * form and `/proof`).
 */
export const STATEMENT_CSV_COLUMNS = [
  'statement_id',
  'line',
  'type',
  'occurred_at',
  'invoice_id',
  'invoice_number',
  'entry_id',
  'reverses_entry_id',
  'resolution_id',
  'asset',
  'token_amount',
  'hkd_amount',
  ...STATEMENT_ACCOUNT_KINDS,
  'tx_hash',
  'log_index',
  'block_number',
  'block_time',
  'confirmations',
  'from_address',
  'to_address',
  'refund_tx_hash',
  'refund_log_index',
  'leaf_hash',
] as const;

function csvValues(statementId: string, line: StatementLine, leaf: Buffer): (string | number | null)[] {
  const accounts = line.type === 'opening_balance' || line.type === 'closing_balance' ? line.balances : line.type === 'invoice' ? {} : line.postings;
  const entry = line.type === 'opening_balance' || line.type === 'closing_balance' || line.type === 'invoice' ? undefined : line;
  const transfer = entry?.transfer ?? null;
  return [
    statementId,
    line.line,
    line.type,
    line.occurred_at,
    'invoice_id' in line ? line.invoice_id : null,
    'invoice_number' in line ? line.invoice_number : null,
    entry?.entry_id ?? null,
    entry?.reverses_entry_id ?? null,
    entry?.resolution_id ?? null,
    line.asset,
    line.token_amount,
    line.hkd_amount,
    ...STATEMENT_ACCOUNT_KINDS.map((kind) => (accounts as Partial<Record<string, string>>)[kind] ?? null),
    transfer?.tx_hash ?? null,
    transfer?.log_index ?? null,
    transfer?.block_number ?? null,
    transfer?.block_time ?? null,
    transfer?.confirmations ?? null,
    transfer?.from_address ?? null,
    transfer?.to_address ?? null,
    entry?.refund_transfer?.tx_hash ?? null,
    entry?.refund_transfer?.log_index ?? null,
    leaf.toString('hex'),
  ];
}

/** The CSV form: a header row and one row per line. */
export async function writeStatementCsv(res: Writable, header: StatementHeader, sealed: SealedLines): Promise<void> {
  const out = new ChunkedWriter(res);
  out.add(csvLine(STATEMENT_CSV_COLUMNS));
  for await (const { line, leaf } of sealed.lines) {
    if (out.add(csvLine(csvValues(header.id, line, leaf)))) await out.flush();
  }
  await out.flush(true);
}
