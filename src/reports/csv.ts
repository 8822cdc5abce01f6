/**
 * CSV for spreadsheets and accounting imports (RFC 4180), streamed row by row.
 */
import type { Writable } from 'node:stream';
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

/**
 * Writes rows, waiting for the socket to drain when its buffer is full, so memory stays flat
 * however many rows there are.
 */
export async function writeCsvRow(out: Writable, values: readonly (string | number | null | undefined)[]): Promise<void> {
  await writeStreamed(out, csvLine(values));
}
