/**
 * Balance checkpoints: each ledger account's balance at the end of each Hong Kong day it moved,
 * written once the day is over and never changed. Balances at any instant then cost the latest
 * checkpoint before it plus the postings since — a statement of one month costs the same for a
 * clinic with five years of history as for one with one (see `balancesAt`).
 *
 * A day is closed {@link CLOSE_DELAY_MS} after it ends, so no transaction still open can date an
 * entry inside it; once closed, the database refuses any entry dated inside it (migration 0025),
 * so a checkpoint cannot go stale. {@link checkLedgerCheckpoints} recomputes every checkpoint
 * from the postings and names the first that disagrees (a ledger rewritten behind the gateway's
 * back, by someone with the owner's rights).
 */
import { hongKongDayStart } from '../domain/hongKongDate.js';
import type { Db, Trx } from '../platform/db.js';
import { withTransaction } from '../platform/transaction.js';

const DAY_MS = 86_400_000;
/** How long after a day ends it is closed: far longer than any transaction runs. */
export const CLOSE_DELAY_MS = 15 * 60_000;
/** Days closed per call: a ledger with years of history catches up in a few worker passes. */
const DAYS_PER_CALL = 400;

/** The end of the last day whose checkpoints are written, if any. */
export async function closedThrough(db: Db | Trx): Promise<Date | undefined> {
  const row = (await db('ledger_days_closed').max('as_of as as_of').first()) as { as_of: Date | null } | undefined;
  return row?.as_of ?? undefined;
}

/**
 * Closes every day that ended at least {@link CLOSE_DELAY_MS} before `now` and is not closed yet
 * (at most {@link DAYS_PER_CALL}), oldest first, each in its own transaction: its checkpoints are
 * the account's previous checkpoint plus the day's postings. Returns the days closed. Safe to
 * run from several processes: a day is closed once (its row is the primary key).
 */
export async function closeLedgerDays(db: Db, now = new Date()): Promise<number> {
  const last = await closedThrough(db);
  let dayEnd: Date;
  if (last) dayEnd = new Date(last.getTime() + DAY_MS);
  else {
    const first = (await db('journal_entries').min('created_at as at').first()) as { at: Date | null } | undefined;
    if (!first?.at) return 0;
    dayEnd = new Date(hongKongDayStart(first.at).getTime() + DAY_MS);
  }
  let closed = 0;
  while (closed < DAYS_PER_CALL && dayEnd.getTime() + CLOSE_DELAY_MS <= now.getTime()) {
    const end = dayEnd;
    const wrote = await withTransaction(db, async (trx) => {
      // Closing days one after another, by one writer at a time.
      await trx.raw(`SELECT pg_advisory_xact_lock(hashtext('clinicpay.close_ledger_days'))`);
      const current = await closedThrough(trx);
      if (current && current.getTime() >= end.getTime()) return false;
      const start = new Date(end.getTime() - DAY_MS);
      const moved = (await trx.raw(
        `SELECT p.account_id, a.clinic_id, a.asset, sum(p.amount)::text AS moved
           FROM journal_entries e JOIN postings p ON p.entry_id = e.id JOIN ledger_accounts a ON a.id = p.account_id
          WHERE e.created_at >= ? AND e.created_at < ?
          GROUP BY p.account_id, a.clinic_id, a.asset`,
        [start, end],
      )) as { rows: { account_id: string }[] };
      await trx('ledger_days_closed').insert({ as_of: end, accounts: moved.rows.length });
      if (moved.rows.length > 0) {
        await trx.raw(
          `INSERT INTO balance_checkpoints (account_id, as_of, clinic_id, asset, balance)
           SELECT m.account_id, ?, m.clinic_id, m.asset, coalesce(prev.balance, 0) + m.moved::numeric
             FROM jsonb_to_recordset(?::jsonb) AS m(account_id text, clinic_id text, asset text, moved text)
             LEFT JOIN LATERAL (
               SELECT c.balance FROM balance_checkpoints c WHERE c.account_id = m.account_id AND c.as_of < ? ORDER BY c.as_of DESC LIMIT 1
             ) prev ON true`,
          [end, JSON.stringify(moved.rows), end],
        );
      }
      return true;
    });
    if (wrote) closed += 1;
    dayEnd = new Date(end.getTime() + DAY_MS);
  }
  return closed;
}

/**
 * Each account's balance (of `clinicId` in `asset`) from postings of entries created before
 * `at`: the latest checkpoint at or before `at`, plus the postings since. Accounts are keyed by
 * their kind.
 */
export async function balancesAt(db: Db | Trx, clinicId: string, asset: string, at: Date): Promise<Map<string, bigint>> {
  const from = (await db('ledger_days_closed').where('as_of', '<=', at).max('as_of as as_of').first()) as { as_of: Date | null } | undefined;
  const since = from?.as_of ?? null;
  const result = (await db.raw(
    `SELECT kind, sum(amount)::text AS balance FROM (
       SELECT a.kind, cp.balance AS amount
         FROM ledger_accounts a
         JOIN LATERAL (
           SELECT c.balance FROM balance_checkpoints c WHERE c.account_id = a.id AND c.as_of <= ?::timestamptz ORDER BY c.as_of DESC LIMIT 1
         ) cp ON true
        WHERE a.clinic_id = ? AND a.asset = ? AND ?::timestamptz IS NOT NULL
       UNION ALL
       -- The entries since, by the clinic's index, then each one's postings (OFFSET 0 keeps the planner
       -- from flattening the LATERAL into a scan of every posting).
       SELECT p.kind, p.amount
         FROM journal_entries e
         JOIN LATERAL (
           SELECT a.kind, ps.amount FROM postings ps JOIN ledger_accounts a ON a.id = ps.account_id WHERE ps.entry_id = e.id AND ps.asset = ?
           OFFSET 0
         ) p ON true
        WHERE e.clinic_id = ? AND e.created_at >= coalesce(?::timestamptz, '-infinity') AND e.created_at < ?
     ) AS parts
     GROUP BY kind`,
    [since, clinicId, asset, since, asset, clinicId, since, at],
  )) as { rows: { kind: string; balance: string }[] };
  return new Map(result.rows.map((row) => [row.kind, BigInt(row.balance)]));
}

export interface CheckpointCheck {
  ok: boolean;
  days_closed: number;
  checkpoints_checked: number;
  first_mismatch: { account_id: string; as_of: string; recorded: string | null; from_postings: string | null } | null;
}

/**
 * Recomputes every checkpoint from the postings in one pass (each account's postings summed per
 * closed day, then accumulated) and compares: a checkpoint that differs, one missing for an
 * account that moved, or one for an account that did not, is named (the earliest first).
 */
export async function checkLedgerCheckpoints(db: Db): Promise<CheckpointCheck> {
  const through = await closedThrough(db);
  const days = Number(((await db('ledger_days_closed').count('* as n').first()) as { n: string }).n);
  const checked = Number(((await db('balance_checkpoints').count('* as n').first()) as { n: string }).n);
  if (!through) return { ok: true, days_closed: 0, checkpoints_checked: 0, first_mismatch: null };
  const result = (await db.raw(
    `WITH per_day AS (
       -- The end of the entry's Hong Kong day (UTC+8 all year), as the days are closed.
       SELECT p.account_id, (date_trunc('day', (e.created_at AT TIME ZONE 'UTC') + interval '8 hours') + interval '16 hours') AT TIME ZONE 'UTC' AS as_of,
              sum(p.amount) AS moved
         FROM journal_entries e
         JOIN postings p ON p.entry_id = e.id
        WHERE e.created_at < ?
        GROUP BY 1, 2
     ), running AS (
       SELECT account_id, as_of, sum(moved) OVER (PARTITION BY account_id ORDER BY as_of) AS balance FROM per_day
     )
     SELECT coalesce(r.account_id, c.account_id) AS account_id, coalesce(r.as_of, c.as_of) AS as_of,
            c.balance::text AS recorded, r.balance::text AS from_postings
       FROM running r FULL JOIN balance_checkpoints c ON c.account_id = r.account_id AND c.as_of = r.as_of
      WHERE c.balance IS DISTINCT FROM r.balance
      ORDER BY 2, 1
      LIMIT 1`,
    [through],
  )) as { rows: { account_id: string; as_of: Date; recorded: string | null; from_postings: string | null }[] };
  const mismatch = result.rows[0];
  return {
    ok: mismatch === undefined,
    days_closed: days,
    checkpoints_checked: checked,
    first_mismatch: mismatch
      ? { account_id: mismatch.account_id, as_of: mismatch.as_of.toISOString(), recorded: mismatch.recorded, from_postings: mismatch.from_postings }
      : null,
  };
}
