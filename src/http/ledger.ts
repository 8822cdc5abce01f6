/**
 * `/v1/ledger`: balances and journal entries, for finance and auditors across clinics and for
 * a clinic's own users within it. Amounts are signed integer strings in base units, so any
 * reader can check that each entry sums to zero per asset.
 */
import { Router } from 'express';
import { checkLedgerCheckpoints } from '../ledger/checkpoints.js';
import { accountBalances, type EntryKind, listEntries } from '../ledger/ledger.js';
import type { ApiDeps } from './apiDeps.js';
import { requireRole, requireUnconfined } from './auth.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';

export function ledgerRouter({ db, contract, rateLimits }: ApiDeps): Router {
  const router = Router();
  const readers = requireRole('finance', 'auditor', 'clinic_admin', 'clinic_staff');

  contract.route(
    router,
    'get',
    '/v1/ledger/accounts',
    readers,
    listHandler({
      url: '/v1/ledger/accounts',
      // Every account of the scope on one page: a clinic has a handful per asset.
      fetch: async (scope) => ({ data: await accountBalances(db, scope.clinicId), hasMore: false }),
      present: (accounts) =>
        accounts.map((account) => ({
          object: 'ledger_account',
          id: account.accountId,
          clinic_id: account.clinicId,
          kind: account.kind,
          asset: account.asset,
          balance: account.balance.toString(),
        })),
    }),
  );

  contract.route(
    router,
    'get',
    '/v1/ledger/entries',
    readers,
    listHandler({
      url: '/v1/ledger/entries',
      fetch: (scope, query, page) =>
        listEntries(db, scope, { invoiceId: query.invoice_id as string | undefined, kind: query.kind as EntryKind | undefined }, page),
      present: (entries) =>
        entries.map((entry) => ({
          object: 'journal_entry',
          id: entry.id,
          kind: entry.kind,
          clinic_id: entry.clinic_id,
          invoice_id: entry.invoice_id,
          transfer_id: entry.transfer_id,
          reverses_entry_id: entry.reverses_entry_id,
          created_at: entry.created_at.toISOString(),
          postings: entry.postings.map((posting) => ({ account: posting.account_id, asset: posting.asset, amount: posting.amount })),
        })),
    }),
  );

  // Every clinic's checkpoints at once: only a caller who may read them all checks them.
  contract.route(
    router,
    'get',
    '/v1/ledger/checkpoints/verify',
    requireRole('finance', 'auditor', 'platform_admin'),
    requireUnconfined('Verifying every balance checkpoint needs a token not confined to one clinic.'),
    rateLimits.expensive,
    async (_req, res) => {
      sendJson(res, 200, { object: 'ledger_checkpoint_verification', ...(await checkLedgerCheckpoints(db)) });
    },
  );

  return router;
}
