/**
 * Finance's workflow: reconciliation runs and their exports, the exception queue, and
 * resolutions with maker-checker approval.
 */
import { Router } from 'express';
import { pageRequestFrom } from '../platform/pagination.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import type { ChainClient } from '../chain/client.js';
import { getException, listExceptions, presentException, type ExceptionRow, type ExceptionStatus, type ExceptionType } from '../recon/exceptions.js';
import { approveResolution, createResolution, getResolution, presentResolution, resolutionAuditEvent, type CreateResolutionInput } from '../recon/resolutions.js';
import { executeReconciliation, startReconciliation, type ReconciliationDeps, type RunRow } from '../recon/runs.js';
import { NotFoundError } from '../platform/errors.js';
import { appendAudit } from '../audit/auditLog.js';
import { startCsv, writeCsvRow } from '../reports/csv.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';

export interface ReconciliationApiDeps extends ApiDeps {
  chain: ChainClient;
  reconciliation: Omit<ReconciliationDeps, 'db' | 'chain' | 'logger'>;
}

const HKD = CURRENCIES.HKD!;

function presentRun(run: RunRow): Record<string, unknown> {
  return {
    object: 'reconciliation',
    id: run.id,
    status: run.status,
    from_block: Number(run.from_block),
    to_block: Number(run.to_block),
    progress_percent: run.progress,
    counts: run.counts,
    error: run.error,
    requested_by: run.requested_by,
    created_at: run.created_at.toISOString(),
    finished_at: run.finished_at?.toISOString() ?? null,
  };
}

export function reconciliationRouter(api: ReconciliationApiDeps): Router {
  const { db, logger, contract, network } = api;
  const router = Router();
  const finance = requireRole('finance');
  const readers = requireRole('finance', 'auditor', 'platform_admin');
  const reconDeps: ReconciliationDeps = { db, chain: api.chain, logger, ...api.reconciliation };

  async function findRun(id: string): Promise<RunRow> {
    const run = (await db('reconciliation_runs').where({ id }).first()) as RunRow | undefined;
    if (!run) throw new NotFoundError('reconciliation');
    return run;
  }

  contract.route(
    router,
    'post',
    '/v1/reconciliations',
    requireRole('finance', 'platform_admin'),
    idempotent(db, logger, async (trx, req, res) => {
      const body = (req.body ?? {}) as { from_block?: number; to_block?: number };
      const run = await startReconciliation(
        { ...reconDeps, db: trx as unknown as typeof db },
        {
          fromBlock: body.from_block === undefined ? undefined : BigInt(body.from_block),
          toBlock: body.to_block === undefined ? undefined : BigInt(body.to_block),
          requestedBy: principalOf(res).sub,
        },
      );
      await appendAudit(trx, actorOf(res), [
        { action: 'reconciliation.requested', target: { type: 'reconciliation', id: run.id }, after: { from_block: run.from_block, to_block: run.to_block, status: run.status } },
      ]);
      // The run starts once its row is committed; the answer does not wait for it.
      res.once('finish', () => {
        void executeReconciliation(reconDeps, run.id).catch((error: unknown) => logger.error({ err: error, run_id: run.id }, 'reconciliation crashed'));
      });
      return { status: 202, body: presentRun(run) };
    }),
  );

  contract.route(router, 'get', '/v1/reconciliations/{id}', readers, async (req, res) => {
    sendJson(res, 200, presentRun(await findRun(req.params.id as string)));
  });

  contract.route(router, 'get', '/v1/reconciliations/{id}/export', readers, async (req, res) => {
    const run = await findRun(req.params.id as string);
    startCsv(res, `reconciliation-${run.id}.csv`, [
      'run_id', 'result', 'clinic_id', 'invoice_id', 'tx_hash', 'log_index', 'block_number', 'block_time',
      'token_address', 'from_address', 'to_address', 'token_amount', 'token_decimals', 'hkd_amount', 'rate', 'exception_id',
    ]);
    const decimals = network.token.decimals;
    const principal = principalOf(res);
    const lines = db('reconciliation_lines').where({ run_id: run.id }).orderBy('id');
    if (principal.clinicId !== undefined) lines.where({ clinic_id: principal.clinicId });
    for await (const line of lines.stream()) {
      const row = line as Record<string, string | number | Date | null>;
      await writeCsvRow(res, [
        run.id, row.result as string, row.clinic_id as string, row.invoice_id as string, row.tx_hash as string, row.log_index as number,
        row.block_number as string, row.block_time ? (row.block_time as Date).toISOString() : null, row.token_address as string,
        row.from_address as string, row.to_address as string, row.amount as string, decimals,
        tokenUnitsToFiat(BigInt(row.amount as string), decimals, HKD), `1 ${network.token.symbol} = 1 HKD (peg)`, row.exception_id as string,
      ]);
    }
    res.end();
  });

  contract.route(router, 'get', '/v1/exceptions', readers, async (_req, res) => {
    const query = validatedQuery(res);
    const page = await listExceptions(
      db,
      principalOf(res),
      {
        ...(query.type === undefined ? {} : { type: query.type as ExceptionType }),
        ...(query.status === undefined ? {} : { status: query.status as ExceptionStatus }),
        ...(query.clinic_id === undefined ? {} : { clinicId: query.clinic_id as string }),
        ...(query.invoice_id === undefined ? {} : { invoiceId: query.invoice_id as string }),
      },
      pageRequestFrom(query),
    );
    sendJson(res, 200, { object: 'list', url: '/v1/exceptions', data: page.data.map(presentException), has_more: page.hasMore });
  });

  contract.route(router, 'get', '/v1/exceptions/export', readers, async (_req, res) => {
    const principal = principalOf(res);
    const query = validatedQuery(res);
    const decimals = network.token.decimals;
    startCsv(res, 'exceptions.csv', [
      'exception_id', 'type', 'status', 'clinic_id', 'invoice_id', 'tx_hash', 'log_index', 'block_number', 'block_time',
      'token_amount', 'token_decimals', 'hkd_amount', 'rate', 'expected', 'observed', 'created_at', 'resolved_at',
    ]);
    const rows = db('exceptions').orderBy([{ column: 'created_at' }, { column: 'id' }]);
    if (principal.clinicId !== undefined) rows.where({ clinic_id: principal.clinicId });
    if (query.status !== undefined) rows.where({ status: query.status as string });
    if (query.type !== undefined) rows.where({ type: query.type as string });
    for await (const item of rows.stream()) {
      const row = item as ExceptionRow;
      await writeCsvRow(res, [
        row.id, row.type, row.status, row.clinic_id, row.invoice_id, row.tx_hash, row.log_index, row.block_number,
        row.block_time?.toISOString() ?? null, row.amount, decimals, tokenUnitsToFiat(BigInt(row.amount), decimals, HKD),
        `1 ${network.token.symbol} = 1 HKD (peg)`, row.expected, row.observed, row.created_at.toISOString(), row.resolved_at?.toISOString() ?? null,
      ]);
    }
    res.end();
  });

  contract.route(router, 'get', '/v1/exceptions/{id}', readers, async (req, res) => {
    const exception = await getException(db, principalOf(res), req.params.id as string);
    const resolutions = await db('resolutions').where({ exception_id: exception.id }).orderBy('created_at');
    sendJson(res, 200, { ...presentException(exception), resolutions: resolutions.map(presentResolution) });
  });

  contract.route(
    router,
    'post',
    '/v1/exceptions/{id}/resolutions',
    finance,
    idempotent(db, logger, async (trx, req, res) => {
      const resolution = await createResolution(trx, principalOf(res), req.params.id as string, req.body as CreateResolutionInput);
      await appendAudit(trx, actorOf(res), [await resolutionAuditEvent(trx, 'resolution.proposed', resolution)]);
      return { status: 201, body: presentResolution(resolution) };
    }),
  );

  contract.route(router, 'get', '/v1/resolutions/{id}', readers, async (req, res) => {
    sendJson(res, 200, presentResolution(await getResolution(db, principalOf(res), req.params.id as string)));
  });

  contract.route(
    router,
    'post',
    '/v1/resolutions/{id}/approve',
    finance,
    idempotent(db, logger, async (trx, req, res) => {
      const resolution = await approveResolution(trx, principalOf(res), req.params.id as string, network);
      await appendAudit(trx, actorOf(res), [await resolutionAuditEvent(trx, 'resolution.approved', resolution)]);
      return { status: 200, body: presentResolution(resolution) };
    }),
  );

  return router;
}


