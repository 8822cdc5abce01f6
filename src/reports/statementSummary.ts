/**
 * What a statement's first page shows before its lines: totals per line type and the daily
 * inflows for the chart, read with two aggregate queries so the lines can still be streamed.
 */
import type { Db } from '../platform/db.js';
import type { StatementContext } from './statement.js';
import type { StatementSummary } from './statementPdf.js';

/** Totals per line type (count and base units) and payments per Hong Kong calendar day. */
export async function statementSummary(db: Db, { row }: StatementContext): Promise<StatementSummary> {
  const period = { clinic: row.clinic_id, asset: row.asset, from: row.period_from, to: row.period_to };
  const [entries, invoices, days] = await Promise.all([
    db.raw(
      `SELECT e.kind AS type, count(*)::int AS count, sum(p.size)::text AS token_amount
         FROM journal_entries e
         JOIN LATERAL (SELECT max(abs(amount)) AS size FROM postings WHERE entry_id = e.id AND asset = :asset) AS p ON p.size IS NOT NULL
        WHERE e.clinic_id = :clinic AND e.created_at >= :from AND e.created_at < :to
        GROUP BY e.kind`,
      period,
    ) as Promise<{ rows: { type: string; count: number; token_amount: string }[] }>,
    db.raw(
      `SELECT count(*)::int AS count, coalesce(sum(token_amount_due), 0)::text AS token_amount FROM invoices
        WHERE clinic_id = :clinic AND (token_chain_id::text || ':' || token_address) = :asset AND created_at >= :from AND created_at < :to`,
      period,
    ) as Promise<{ rows: { count: number; token_amount: string }[] }>,
    db.raw(
      `SELECT to_char(e.created_at AT TIME ZONE 'Asia/Hong_Kong', 'YYYY-MM-DD') AS date, sum(ps.amount)::text AS token_amount
         FROM journal_entries e
         JOIN postings ps ON ps.entry_id = e.id AND ps.asset = :asset
         JOIN ledger_accounts a ON a.id = ps.account_id AND a.kind = 'deposits'
        WHERE e.clinic_id = :clinic AND e.kind = 'payment' AND e.created_at >= :from AND e.created_at < :to
        GROUP BY 1 ORDER BY 1`,
      period,
    ) as Promise<{ rows: { date: string; token_amount: string }[] }>,
  ]);
  const totals: StatementSummary['totals'] = {};
  if (invoices.rows[0]!.count > 0) totals.invoice = invoices.rows[0]!;
  for (const entry of entries.rows) totals[entry.type as keyof StatementSummary['totals']] = { count: entry.count, token_amount: entry.token_amount };
  return { totals, daily_inflows: days.rows };
}
