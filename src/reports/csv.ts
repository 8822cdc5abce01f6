/**
 * CSV for spreadsheets and accounting imports (RFC 4180), streamed row by row.
 */
import type { Response } from 'express';
import { writeStreamed } from '../platform/streaming.js';

/**
 * One CSV line. Fields with commas, quotes or line breaks are quoted; text that a spreadsheet
 * would run as a formula (starting with = + - @ or a tab) is prefixed with a quote mark, unless
 * it is a plain number.
 */
export function csvLine(values: readonly (string | number | null | undefined)[]): string {
  return `${values
    .map((value) => {
      if (value === null || value === undefined) return '';
      let text = String(value);
      if (/^[=+\-@\t\r]/.test(text) && !/^-?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
      return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
    })
    .join(',')}\r\n`;
}

/** Starts a CSV download named `filename`. */
export function startCsv(res: Response, filename: string, header: readonly string[]): void {
  res.status(200).type('text/csv; charset=utf-8').setHeader('Content-Disposition', `attachment; filename="${filename}"`);
  res.write(csvLine(header));
}

/**
 * Writes rows, waiting for the socket to drain when its buffer is full, so memory stays flat
 * however many rows there are.
 */
export async function writeCsvRow(res: Response, values: readonly (string | number | null | undefined)[]): Promise<void> {
  await writeStreamed(res, csvLine(values));
}
