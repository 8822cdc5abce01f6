/**
 * Finance's work pages in the console (`/console/exceptions…`, `/console/reconciliation`):
 * server-rendered reads through the recon folder's own functions, within the person's scope.
 * Proposing, approving and starting runs are the API's endpoints, called by the page's script.
 */
import { type Request, type Response, Router } from 'express';
import { formatUnits } from 'viem';
import { getInvoice, invoiceNumbers } from '../billing/invoices.js';
import { acceptedTokenAt } from '../chain/paymentNetwork.js';
import {
  EXCEPTION_STATUSES,
  type ExceptionListItem,
  renderExceptionPage,
  renderExceptionsPage,
  renderReconciliationPage,
  type TokenAmount,
} from '../console/exceptions.js';
import { apiAddress } from '../domain/address.js';
import { NotFoundError } from '../platform/errors.js';
import { EXCEPTION_TYPES, type ExceptionRow, type ExceptionStatus, type ExceptionType, getException, listExceptions } from '../recon/exceptions.js';
import { pendingResolutions, resolutionsOf } from '../recon/resolutions.js';
import { recentRuns } from '../recon/runs.js';
import type { ApiDeps } from './apiDeps.js';
import { clinicNamesInScope, forSection, principalOf, scopeOf, sendNotFound, sendPage, staffOf } from './consolePages.js';

/** At most this many exceptions on one page of the queue (filters narrow it). */
const EXCEPTIONS_SHOWN = 200;

export function consoleFinanceRouter({ db, network, checkout }: ApiDeps): Router {
  const router = Router();
  const token = network.token;
  /** Base units of an accepted token as exact decimal text; another token's units as they are. */
  const tokenAmount = (units: string | bigint, tokenAddress: string | null = null): TokenAmount => {
    const accepted = tokenAddress === null ? token : acceptedTokenAt(network, tokenAddress);
    return accepted
      ? { text: formatUnits(BigInt(units), accepted.decimals), symbol: accepted.symbol }
      : { text: BigInt(units).toString(), symbol: `(${apiAddress(tokenAddress!)})` };
  };
  const txUrl = (hash: string | null) => (hash === null ? null : (checkout.explorerTxUrl?.replace('{tx}', hash) ?? null));

  router.use('/console/exceptions', forSection('/console/exceptions'));
  router.use('/console/reconciliation', forSection('/console/reconciliation'));

  router.get('/console/exceptions', async (req, res) => {
    const type =
      typeof req.query.type === 'string' && (EXCEPTION_TYPES as readonly string[]).includes(req.query.type) ? (req.query.type as ExceptionType) : undefined;
    // No status asked for: what is still to work. An empty one: every status.
    const asked = req.query.status;
    const status =
      asked === undefined
        ? 'open'
        : typeof asked === 'string' && (EXCEPTION_STATUSES as readonly string[]).includes(asked)
          ? (asked as ExceptionStatus)
          : undefined;
    const scope = scopeOf(res);
    const [page, pending, names] = await Promise.all([
      listExceptions(db, scope, { ...(type ? { type } : {}), ...(status ? { status } : {}) }, { limit: EXCEPTIONS_SHOWN }),
      pendingResolutions(db, scope),
      clinicNamesInScope(db, res),
    ]);
    const numbers = await invoiceNumbers(
      db,
      page.data.flatMap((row) => (row.invoice_id === null ? [] : [row.invoice_id])),
    );
    const me = principalOf(res).sub;
    const exceptions: ExceptionListItem[] = page.data.map((row) => ({
      id: row.id,
      type: row.type,
      status: row.status,
      clinicName: row.clinic_id === null ? null : (names.get(row.clinic_id) ?? row.clinic_id),
      invoiceNumber: row.invoice_id === null ? null : (numbers.get(row.invoice_id) ?? null),
      amount: tokenAmount(row.amount, row.token_address),
      createdAt: row.created_at,
    }));
    const approvals = pending
      .filter((resolution) => resolution.created_by !== me)
      .map((resolution) => ({
        resolutionId: resolution.id,
        exceptionId: resolution.exception_id,
        exceptionType: resolution.exception_type,
        action: resolution.action,
        amount: tokenAmount(resolution.amount),
        proposedBy: resolution.created_by,
        proposedAt: resolution.created_at,
      }));
    sendPage(req, res, 200, (language) =>
      renderExceptionsPage(language, staffOf(res), { approvals, exceptions, filters: { type: type ?? '', status: status ?? '', types: EXCEPTION_TYPES } }),
    );
  });

  router.get('/console/exceptions/:id', async (req, res) => {
    const scope = scopeOf(res);
    let exception: ExceptionRow;
    try {
      exception = await getException(db, scope, String(req.params.id));
    } catch (error) {
      // Only "no such exception here" is the 404 page; a failing database stays an error.
      if (error instanceof NotFoundError) return sendNotFound(req, res);
      throw error;
    }
    const [resolutions, invoice, names] = await Promise.all([
      resolutionsOf(db, exception.id),
      exception.invoice_id === null ? undefined : getInvoice(db, scope, exception.invoice_id),
      clinicNamesInScope(db, res),
    ]);
    const me = principalOf(res).sub;
    sendPage(req, res, 200, (language) =>
      renderExceptionPage(language, staffOf(res), {
        id: exception.id,
        type: exception.type,
        status: exception.status,
        clinicName: exception.clinic_id === null ? null : (names.get(exception.clinic_id) ?? exception.clinic_id),
        invoice: invoice ? { id: invoice.id, number: invoice.number } : null,
        txHash: exception.tx_hash,
        txUrl: txUrl(exception.tx_hash),
        fromAddress: exception.from_address === null ? null : apiAddress(exception.from_address),
        amount: tokenAmount(exception.amount, exception.token_address),
        expected: exception.expected === null ? null : tokenAmount(exception.expected, exception.token_address),
        observed: exception.observed === null ? null : tokenAmount(exception.observed, exception.token_address),
        blockTime: exception.block_time,
        resolutions: resolutions.map((resolution) => {
          const refundTxHash = resolution.refund_tx_hash?.split(':')[0] ?? null;
          return {
            id: resolution.id,
            action: resolution.action,
            status: resolution.status,
            amount: tokenAmount(resolution.amount),
            toAddress: resolution.to_address === null ? null : apiAddress(resolution.to_address),
            targetInvoiceId: resolution.target_invoice_id,
            proposedBy: resolution.created_by,
            proposedAt: resolution.created_at,
            approvedBy: resolution.approved_by,
            approvedAt: resolution.approved_at,
            mine: resolution.created_by === me,
            calldata: resolution.calldata,
            refundTxHash,
            refundTxUrl: txUrl(refundTxHash),
          };
        }),
        screening:
          exception.type === 'screening_hit' && Array.isArray(exception.details.hits)
            ? (exception.details.hits as { list: string; version: string; name: string | null; reference: string | null }[])
            : null,
        frozenAddress: exception.type === 'address_frozen' && typeof exception.details.address === 'string' ? exception.details.address : null,
        // A freeze is the issuer's to lift: there is nothing for finance to propose.
        proposable: exception.status === 'open' && exception.clinic_id !== null && exception.type !== 'address_frozen',
        wallet: {
          chainId: network.chainId,
          token: token.address,
          settlementAddress: invoice ? apiAddress(invoice.settlement_address) : null,
          decimals: token.decimals,
          symbol: token.symbol,
        },
      }),
    );
  });

  router.get('/console/reconciliation', async (req: Request, res: Response) => {
    const runs = await recentRuns(db);
    sendPage(req, res, 200, (language) =>
      renderReconciliationPage(
        language,
        staffOf(res),
        runs.map((run) => ({
          id: run.id,
          status: run.status,
          fromBlock: String(run.from_block),
          toBlock: String(run.to_block),
          progress: run.progress,
          counts: run.counts,
          error: run.error,
          requestedBy: run.requested_by,
          createdAt: run.created_at,
          finishedAt: run.finished_at,
        })),
      ),
    );
  });

  return router;
}
