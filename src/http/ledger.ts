/**
 * `/v1/ledger`: balances and journal entries, for finance and auditors across clinics and for
 * a clinic's own users within it. Amounts are signed integer strings in base units, so any
 * reader can check that each entry sums to zero per asset.
 */
import { Router } from 'express';
import { pageRequestFrom } from '../platform/pagination.js';
import { accountBalances, listEntries, type EntryKind } from '../ledger/ledger.js';
import type { ApiDeps } from './apiDeps.js';
import { principalOf, requireRole } from './auth.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';

export function ledgerRouter({ db, contract }: ApiDeps): Router {
  const router = Router();
  const readers = requireRole('finance', 'auditor', 'clinic_admin', 'clinic_staff');

  contract.route(router, 'get', '/v1/ledger/accounts', readers, async (_req, res) => {
    const principal = principalOf(res);
    const query = validatedQuery(res);
    const requested = query.clinic_id as string | undefined;
    const visible = principal.clinicId !== undefined && requested !== undefined && requested !== principal.clinicId ? [] : await accountBalances(db, principal.clinicId ?? requested);
    sendJson(res, 200, {
      object: 'list',
      url: '/v1/ledger/accounts',
      has_more: false,
      data: visible.map((account) => ({
        object: 'ledger_account',
        id: account.accountId,
        clinic_id: account.clinicId,
        kind: account.kind,
        asset: account.asset,
        balance: account.balance.toString(),
      })),
    });
  });

  contract.route(router, 'get', '/v1/ledger/entries', readers, async (_req, res) => {
    const principal = principalOf(res);
    const query = validatedQuery(res);
    const page = await listEntries(
      db,
      principal.clinicId,
      {
        ...(query.clinic_id === undefined ? {} : { clinicId: query.clinic_id as string }),
        ...(query.invoice_id === undefined ? {} : { invoiceId: query.invoice_id as string }),
        ...(query.kind === undefined ? {} : { kind: query.kind as EntryKind }),
      },
      pageRequestFrom(query),
    );
    sendJson(res, 200, {
      object: 'list',
      url: '/v1/ledger/entries',
      has_more: page.hasMore,
      data: page.data.map((entry) => ({
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
    });
  });

  return router;
}
