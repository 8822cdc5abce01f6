/**
 * Finance's workflow: reconciliation runs and their exports, the exception queue, and
 * resolutions with maker-checker approval.
 */
import { Router } from 'express';
import { errorSummary } from '../platform/log.js';
import {
  type ExceptionRow,
  type ExceptionStatus,
  type ExceptionType,
  getException,
  listExceptions,
  presentException,
  streamExceptions,
} from '../recon/exceptions.js';
import { approveResolution, type CreateResolutionInput, createResolution, getResolution, presentResolution, resolutionsOf } from '../recon/resolutions.js';
import { executeReconciliation, getRun, presentRun, type ReconciliationDeps, requestReconciliation, streamRunLines } from '../recon/runs.js';
import { writeExceptionsCsv, writeReconciliationCsv } from '../reports/reconciliationCsv.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole, requireStepUp, requireUnconfined } from './auth.js';
import { streamDownload } from './downloads.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { listHandler } from './lists.js';
import { validatedQuery } from './openapi.js';
import { scopeOf } from './scope.js';

export function reconciliationRouter(api: ApiDeps): Router {
  const { db, logger, contract, network, streamStallTimeoutMs: stallTimeoutMs, allowTokenApprovals } = api;
  const router = Router();
  const finance = requireRole('finance');
  const readers = requireRole('finance', 'auditor', 'platform_admin');
  // A run re-reads the chain for every clinic: starting or reading one is for callers not confined to a clinic.
  const everyClinic = requireUnconfined(
    'Reconciliation runs cover every clinic; a token confined to one clinic reads its exceptions and its lines of a run, not the runs.',
  );
  const reconDeps: ReconciliationDeps = {
    db,
    chain: api.chain,
    logger,
    chainId: network.chainId,
    token: network.token.address,
    tokens: network.tokens,
    finality: api.finality,
    multicall: network.multicall3 ?? undefined,
  };

  contract.route(
    router,
    'post',
    '/v1/reconciliations',
    requireRole('finance', 'platform_admin'),
    everyClinic,
    api.rateLimits.expensive,
    idempotent(db, logger, async (trx, req, res) => {
      const body = (req.body ?? {}) as { from_block?: number; to_block?: number; full_sweep?: boolean };
      const run = await requestReconciliation(trx, reconDeps, actorOf(res), {
        fromBlock: body.from_block === undefined ? undefined : BigInt(body.from_block),
        toBlock: body.to_block === undefined ? undefined : BigInt(body.to_block),
        fullSweep: body.full_sweep,
      });
      // The run starts once its row is committed; the answer does not wait for it.
      res.once('finish', () => {
        void executeReconciliation(reconDeps, run.id).catch((error: unknown) =>
          logger.error({ err: errorSummary(error), run_id: run.id }, 'reconciliation crashed'),
        );
      });
      return { status: 202, body: presentRun(run) };
    }),
  );

  contract.route(router, 'get', '/v1/reconciliations/{id}', readers, everyClinic, async (req, res) => {
    sendJson(res, 200, presentRun(await getRun(db, req.params.id as string)));
  });

  // A confined caller exports its own clinic's lines of a run, nothing of the others'.
  contract.route(router, 'get', '/v1/reconciliations/{id}/export', readers, api.rateLimits.expensive, api.reportSlots.hold(), async (req, res) => {
    const run = await getRun(db, req.params.id as string);
    const download = { contentType: 'text/csv; charset=utf-8', filename: `reconciliation-${run.id}.csv`, stallTimeoutMs, logger, context: { run_id: run.id } };
    await streamDownload(res, download, (out) => writeReconciliationCsv(out, run.id, streamRunLines(api.reportsDb, run.id, scopeOf(res)), network.token));
  });

  contract.route(
    router,
    'get',
    '/v1/exceptions',
    readers,
    listHandler<ExceptionRow>({
      url: '/v1/exceptions',
      fetch: (scope, query, page) =>
        listExceptions(
          db,
          scope,
          {
            type: query.type as ExceptionType | undefined,
            status: query.status as ExceptionStatus | undefined,
            invoiceId: query.invoice_id as string | undefined,
          },
          page,
        ),
      present: (rows) => rows.map(presentException),
    }),
  );

  contract.route(router, 'get', '/v1/exceptions/export', readers, api.rateLimits.expensive, api.reportSlots.hold(), async (_req, res) => {
    const query = validatedQuery(res);
    const download = { contentType: 'text/csv; charset=utf-8', filename: 'exceptions.csv', stallTimeoutMs, logger };
    const filters = { status: query.status as ExceptionStatus | undefined, type: query.type as ExceptionType | undefined };
    await streamDownload(res, download, (out) => writeExceptionsCsv(out, streamExceptions(api.reportsDb, scopeOf(res), filters), network.token));
  });

  contract.route(router, 'get', '/v1/exceptions/{id}', readers, async (req, res) => {
    const exception = await getException(db, scopeOf(res), req.params.id as string);
    sendJson(res, 200, { ...presentException(exception), resolutions: (await resolutionsOf(db, exception.id)).map(presentResolution) });
  });

  contract.route(
    router,
    'post',
    '/v1/exceptions/{id}/resolutions',
    finance,
    idempotent(db, logger, async (trx, req, res) => {
      const resolution = await createResolution(trx, principalOf(res), actorOf(res), req.params.id as string, req.body as CreateResolutionInput);
      return { status: 201, body: presentResolution(resolution) };
    }),
  );

  contract.route(router, 'get', '/v1/resolutions/{id}', readers, async (req, res) => {
    sendJson(res, 200, presentResolution(await getResolution(db, scopeOf(res), req.params.id as string)));
  });

  contract.route(
    router,
    'post',
    '/v1/resolutions/{id}/approve',
    finance,
    requireStepUp(allowTokenApprovals),
    idempotent(db, logger, async (trx, req, res) => {
      const resolution = await approveResolution(trx, principalOf(res), actorOf(res), req.params.id as string, network);
      return { status: 200, body: presentResolution(resolution) };
    }),
  );

  return router;
}
