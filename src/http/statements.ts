/**
 * `/v1/statements`: a clinic's statement for a period — JSON, CSV, PDF or FHIR Bundle, streamed —
 * recorded so it can be fetched again, a line proven, and its root anchored on the chain.
 */
import type { Writable } from 'node:stream';
import { type Response, Router } from 'express';
import type { AuditActor } from '../audit/auditLog.js';
import type { PaymentNetwork } from '../chain/paymentNetwork.js';
import { auditPath } from '../domain/merkle.js';
import type { Db } from '../platform/db.js';
import { ValidationError } from '../platform/errors.js';
import type { Logger } from '../platform/log.js';
import { writeStreamed } from '../platform/streaming.js';
import { fhirBundleClosing, fhirBundleEntry, fhirBundleOpening, fhirJson } from '../reports/fhir.js';
import {
  anchorOf,
  getStatement,
  recordStatement,
  STATEMENT_ROLES,
  type StatementContext,
  type StatementRow,
  StatementSealer,
  sealStatement,
  statementContext,
  statementLines,
} from '../reports/statement.js';
import { requestAnchor } from '../reports/statementAnchor.js';
import type { StatementLine } from '../reports/statementDocument.js';
import { type SealedLines, writeStatementCsv, writeStatementJson } from '../reports/statementFormats.js';
import { writeStatementPdf } from '../reports/statementPdf.js';
import { statementSummary } from '../reports/statementSummary.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf, principalOf, requireRole } from './auth.js';
import { streamDownload } from './downloads.js';
import { idempotent } from './idempotency.js';
import { sendJson } from './json.js';
import { validatedQuery } from './openapi.js';
import { scopeOf } from './scope.js';

type StatementFormat = 'json' | 'csv' | 'pdf' | 'fhir';

export function statementsRouter(deps: ApiDeps): Router {
  // Statements are long reads: they run on the reports pool, never starving the API's.
  const { reportsDb: db, logger, contract, network, streamStallTimeoutMs: stallTimeoutMs } = deps;
  const router = Router();
  const readers = requireRole(...STATEMENT_ROLES);
  const slot = deps.reportSlots.hold();
  const { expensive, anchors } = deps.rateLimits;
  /** Streams `row` in the format and language the request's query asks for. */
  const sendAsAsked = (res: Response, row: StatementRow) => {
    const query = validatedQuery(res);
    const format = (query.format as StatementFormat | undefined) ?? 'json';
    return sendStatement({ db, logger, network, actor: actorOf(res), stallTimeoutMs }, res, row, format, (query.lang as 'en' | 'zh-HK' | undefined) ?? 'en');
  };

  contract.route(router, 'get', '/v1/statements', readers, expensive, slot, async (_req, res) => {
    const query = validatedQuery(res);
    const row = await recordStatement(
      db,
      principalOf(res),
      actorOf(res),
      { clinicId: query.clinic_id as string, from: new Date(query.from as string), to: new Date(query.to as string), token: query.token as string | undefined },
      network,
    );
    await sendAsAsked(res, row);
  });

  contract.route(router, 'get', '/v1/statements/{id}', readers, expensive, slot, async (req, res) => {
    await sendAsAsked(res, await getStatement(db, scopeOf(res), req.params.id as string));
  });

  contract.route(router, 'get', '/v1/statements/{id}/proof', readers, expensive, slot, async (req, res) => {
    const row = await getStatement(db, scopeOf(res), req.params.id as string);
    const lineNumber = validatedQuery(res).line as number;
    const context = await statementContext(db, row, network);
    const sealer = new StatementSealer();
    const leaves: Buffer[] = [];
    let proven: StatementLine | undefined;
    for await (const line of statementLines(db, context)) {
      leaves.push(sealer.add(line));
      if (line.line === lineNumber) proven = line;
    }
    const trailer = sealer.trailer(anchorOf(row));
    await sealStatement(db, row, trailer, actorOf(res));
    if (proven === undefined) throw new ValidationError(`Statement ${row.id} has lines 1 to ${trailer.line_count}.`, 'line');
    sendJson(res, 200, {
      object: 'statement_line_proof',
      statement_id: row.id,
      line: lineNumber,
      leaf: proven,
      leaf_hash: leaves[lineNumber - 1]!.toString('hex'),
      tree_size: trailer.line_count,
      audit_path: auditPath(lineNumber - 1, leaves).map((hash) => hash.toString('hex')),
      merkle_root: trailer.merkle_root,
      anchor: trailer.anchor,
    });
  });

  contract.route(
    router,
    'post',
    '/v1/statements/{id}/anchor',
    requireRole('auditor', 'finance'),
    anchors,
    slot,
    idempotent(db, logger, async (trx, req, res) => {
      const row = await getStatement(trx, scopeOf(res), req.params.id as string);
      if (row.merkle_root === null) await sealCompletely(db, network, row, actorOf(res));
      const request = await requestAnchor(trx, deps.anchorer, row.id, actorOf(res));
      // Queued with the relayer sender: 202 until it is mined, then the anchor.
      if (request.status === 'pending') {
        return {
          status: 202,
          body: { object: 'statement_anchor', statement_id: row.id, status: 'pending', relayer_transaction_id: request.relayerTransactionId },
        };
      }
      return { status: 200, body: { object: 'statement_anchor', statement_id: row.id, status: 'anchored', ...request.anchor } };
    }),
  );

  return router;
}

/** Generates a statement to its end only to learn its root (for one never read to the end). */
async function sealCompletely(db: Db, network: PaymentNetwork, row: StatementRow, actor: AuditActor): Promise<void> {
  const context = await statementContext(db, row, network);
  const sealer = new StatementSealer();
  for await (const line of statementLines(db, context)) sealer.add(line);
  await sealStatement(db, row, sealer.trailer(null), actor);
}

interface SendDeps {
  db: Db;
  logger: Logger;
  network: PaymentNetwork;
  actor: AuditActor;
  stallTimeoutMs: number;
}

const CONTENT_TYPES: Record<StatementFormat, string> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  pdf: 'application/pdf',
  fhir: 'application/fhir+json; charset=utf-8',
};

/**
 * Streams `row` in `format`. Everything that can fail on bad input or unbalanced books fails
 * before the first byte (a problem+json answer); a failure after that — the lines disagreeing
 * with the closing balance, a changed ledger — cuts the response off, so a client never holds a
 * complete-looking statement that is wrong. The root is recorded once the last line is out.
 */
async function sendStatement(
  { db, logger, network, actor, stallTimeoutMs }: SendDeps,
  res: Response,
  row: StatementRow,
  format: StatementFormat,
  lang: 'en' | 'zh-HK',
): Promise<void> {
  const context = await statementContext(db, row, network);
  const summary = format === 'pdf' ? await statementSummary(db, context) : undefined;
  const sealer = new StatementSealer();
  let complete = false;
  const sealed: SealedLines = {
    lines: (async function* () {
      for await (const line of statementLines(db, context)) yield { line, ...sealer.seal(line) };
      complete = true;
    })(),
    trailer: () => sealer.trailer(anchorOf(row)),
  };
  const extension = format === 'fhir' ? 'fhir.json' : format;
  res.setHeader('ClinicPay-Statement-Id', row.id);
  const download = {
    contentType: CONTENT_TYPES[format],
    filename: `statement-${row.id}.${extension}`,
    stallTimeoutMs,
    logger,
    context: { statement_id: row.id },
  };
  await streamDownload(res, download, async (out) => {
    if (format === 'json') await writeStatementJson(out, context.header, sealed);
    else if (format === 'csv') await writeStatementCsv(out, context.header, sealed);
    else if (format === 'fhir') await writeFhirBundle(out, context, sealed);
    else {
      await writeStatementPdf(out, {
        header: context.header,
        summary: summary!,
        lines: (async function* () {
          for await (const { line } of sealed.lines) yield line;
        })(),
        trailer: sealed.trailer,
        lang,
      });
    }
    // Recorded only once every line is out: a statement cut short records no root.
    if (complete) await sealStatement(db, row, sealed.trailer(), actor);
  });
}

async function writeFhirBundle(out: Writable, context: StatementContext, sealed: SealedLines): Promise<void> {
  await writeStreamed(out, fhirBundleOpening(context.header));
  let first = true;
  for await (const { line } of sealed.lines) {
    await writeStreamed(out, `${first ? '' : ','}${fhirJson(fhirBundleEntry(context.header, line))}`);
    first = false;
  }
  await writeStreamed(out, fhirBundleClosing(context.header, sealed.trailer()));
}
