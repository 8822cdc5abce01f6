/**
 * What a clinic has taken, for finance's dashboard: payments received by Hong Kong day, and what
 * is still open or being confirmed. Amounts are exact: token base units summed in Postgres
 * (numeric), then written in HKD at par, rounded down to the cent (tokenUnitsToFiat).
 */

import { Decimal } from 'decimal.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import { type ClinicScope, scopeQuery } from '../identity/principal.js';
import type { Db } from '../platform/db.js';

const HKD = CURRENCIES.HKD!;

/** HKD taken on each Hong Kong day from `from` (inclusive) on, by the day invoices were paid; days without takings are left out. */
export async function takingsByDay(db: Db, scope: ClinicScope, from: Date): Promise<{ day: string; amount: string }[]> {
  const rows = (await scopeQuery(db('invoices'), scope)
    .whereIn('status', ['paid', 'overpaid'])
    .where('paid_at', '>=', from)
    .groupByRaw(`1, 2`)
    .select(
      db.raw(`to_char(paid_at AT TIME ZONE 'Asia/Hong_Kong', 'YYYY-MM-DD') AS day`),
      'token_decimals',
      db.raw('sum(token_amount_paid)::text AS units'),
    )) as {
    day: string;
    token_decimals: number;
    units: string;
  }[];
  const byDay = new Map<string, Decimal>();
  for (const row of rows) {
    const amount = new Decimal(tokenUnitsToFiat(BigInt(row.units), row.token_decimals, HKD));
    byDay.set(row.day, (byDay.get(row.day) ?? new Decimal(0)).plus(amount));
  }
  return [...byDay].sort(([a], [b]) => a.localeCompare(b)).map(([day, amount]) => ({ day, amount: amount.toFixed(HKD.minorUnits) }));
}

/** What is still due on open invoices (not yet expired), and what is paid but still being confirmed, in HKD. */
export async function openAmounts(db: Db, scope: ClinicScope): Promise<{ open: string; openCount: number; processing: string; processingCount: number }> {
  const rows = (await scopeQuery(db('invoices'), scope)
    .where((query) => query.where({ status: 'open' }).andWhere('expires_at', '>', db.fn.now()).orWhere({ status: 'processing' }))
    .groupBy('status')
    .select('status', db.raw('sum(amount_due)::text AS amount'), db.raw('count(*)::int AS n'))) as { status: string; amount: string; n: number }[];
  const of = (status: string) => rows.find((row) => row.status === status);
  return {
    open: new Decimal(of('open')?.amount ?? 0).toFixed(HKD.minorUnits),
    openCount: of('open')?.n ?? 0,
    processing: new Decimal(of('processing')?.amount ?? 0).toFixed(HKD.minorUnits),
    processingCount: of('processing')?.n ?? 0,
  };
}
