/**
 * Finance's CSV downloads of reconciliation: one run's lines (every transfer it compared, and
 * how it came out), and the exception queue. Amounts in token base units and in HKD at the 1:1
 * peg, with the rate written out on every row for whoever imports it.
 */
import type { Writable } from 'node:stream';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import type { ExceptionRow } from '../recon/exceptions.js';
import type { ReconciliationLineRow } from '../recon/runs.js';
import { writeCsvRow } from './csv.js';

const HKD = CURRENCIES.HKD!;

/** The token the amounts are in. */
export interface CsvToken {
  symbol: string;
  decimals: number;
}

export const RECONCILIATION_CSV_COLUMNS = [
  'run_id',
  'result',
  'clinic_id',
  'invoice_id',
  'tx_hash',
  'log_index',
  'block_number',
  'block_time',
  'token_address',
  'from_address',
  'to_address',
  'token_amount',
  'token_decimals',
  'hkd_amount',
  'rate',
  'exception_id',
] as const;

export const EXCEPTIONS_CSV_COLUMNS = [
  'exception_id',
  'type',
  'status',
  'clinic_id',
  'invoice_id',
  'tx_hash',
  'log_index',
  'block_number',
  'block_time',
  'token_amount',
  'token_decimals',
  'hkd_amount',
  'rate',
  'expected',
  'observed',
  'created_at',
  'resolved_at',
] as const;

function pegRate(token: CsvToken): string {
  return `1 ${token.symbol} = 1 HKD (peg)`;
}

/** Writes the lines of run `runId` as CSV, a header row first. */
export async function writeReconciliationCsv(out: Writable, runId: string, lines: AsyncIterable<ReconciliationLineRow>, token: CsvToken): Promise<void> {
  await writeCsvRow(out, RECONCILIATION_CSV_COLUMNS);
  for await (const row of lines) {
    await writeCsvRow(out, [
      runId,
      row.result,
      row.clinic_id,
      row.invoice_id,
      row.tx_hash,
      row.log_index,
      row.block_number,
      row.block_time?.toISOString() ?? null,
      row.token_address,
      row.from_address,
      row.to_address,
      row.amount,
      token.decimals,
      tokenUnitsToFiat(BigInt(row.amount), token.decimals, HKD),
      pegRate(token),
      row.exception_id,
    ]);
  }
}

/** Writes exceptions as CSV, a header row first. */
export async function writeExceptionsCsv(out: Writable, rows: AsyncIterable<ExceptionRow>, token: CsvToken): Promise<void> {
  await writeCsvRow(out, EXCEPTIONS_CSV_COLUMNS);
  for await (const row of rows) {
    await writeCsvRow(out, [
      row.id,
      row.type,
      row.status,
      row.clinic_id,
      row.invoice_id,
      row.tx_hash,
      row.log_index,
      row.block_number,
      row.block_time?.toISOString() ?? null,
      row.amount,
      token.decimals,
      tokenUnitsToFiat(BigInt(row.amount), token.decimals, HKD),
      pegRate(token),
      row.expected,
      row.observed,
      row.created_at.toISOString(),
      row.resolved_at?.toISOString() ?? null,
    ]);
  }
}
