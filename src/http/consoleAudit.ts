/**
 * The auditor's console pages (`/console/statements`, `/console/audit`): server-rendered reads
 * within the person's clinic scope, through the same reports and audit functions as the API.
 * Downloads and the audit chain's check are the API's own endpoints (`/v1/statements/{id}`,
 * `/v1/audit-log/verify`), called from the page with the session, so there is no second path
 * to the data.
 *
 * The statements page also serves the statement verifier for the browser: the verifier's own
 * source (reports/verifyStatement.ts, through reports/verifyBrowser.ts) bundled when first
 * asked for and kept for the life of the process, so what runs in the browser is always the
 * code of this build — the same checks as `npx clinicpay verify`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import { listAuditLog } from '../audit/auditLog.js';
import type { CheckoutLanguage } from '../checkout/messages.js';
import {
  type AuditFilterName,
  type AuditFilters,
  type AuditRowView,
  type PageNotice,
  renderAuditPage,
  renderStatementsPage,
  type StatementChoice,
  type StatementFigures,
  type StatementFormat,
  type StatementsView,
} from '../console/audit.js';
import { CURRENCIES, tokenUnitsToFiat } from '../domain/currency.js';
import { NotFoundError, ValidationError } from '../platform/errors.js';
import { anchorOf, MAX_STATEMENT_DAYS, recordStatement, StatementSealer, sealStatement, statementContext, statementLines } from '../reports/statement.js';
import { statementSummary } from '../reports/statementSummary.js';
import type { ApiDeps } from './apiDeps.js';
import { actorOf } from './auth.js';
import { clinicNamesInScope, forSection, languageOf, principalOf, scopeOf, sendNotFound, sendPage, staffOf } from './consolePages.js';

const STATEMENTS = '/console/statements';
const AUDIT = '/console/audit';
/** Where the statements page gets its verifier (mounted, not routed: an asset, not an operation). */
export const VERIFIER_PATH = '/console/statements/verify.js';
/** Audit rows on one page. */
const AUDIT_PAGE_SIZE = 50;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const FORMATS: readonly StatementFormat[] = ['pdf', 'csv', 'json', 'fhir'];

/**
 * The statements page's Content-Security-Policy: the console's, with `connect-src` opened so
 * the page's verifier can ask the RPC node the auditor types in. Which node is the auditor's
 * choice and is never sent to the gateway, so the policy cannot name it in advance; it allows
 * any https origin, and plain http only to this computer (an auditor's own node), never across
 * the network in clear. Scripts still come only from our own origin, so nothing but our
 * verifier can use the wider `connect-src`, and only this page has it.
 */
export function statementsCsp(consoleCsp: string): string {
  return consoleCsp.replace("connect-src 'self'", "connect-src 'self' https: http://localhost:* http://127.0.0.1:*");
}

/** Where a browser-side source file of the verifier is, from the sources (`.ts`) or the compiled build (`.js`). */
function verifierSource(name: string): string {
  const reports = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'reports');
  const found = ['.ts', '.js'].map((extension) => path.join(reports, `${name}${extension}`)).find((file) => fs.existsSync(file));
  if (!found) throw new Error(`the statement verifier's ${name} is missing from ${reports}`);
  return found;
}

/** Bundles the statement verifier for the browser from the current sources (an IIFE setting `ClinicPayVerifier`). */
export async function buildVerifierBundle(): Promise<string> {
  const shims = verifierSource('browserShims');
  const result = await build({
    entryPoints: [verifierSource('verifyBrowser')],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    logLevel: 'silent',
    // Node's Buffer and SHA-256, as the verifier's path uses them, from the shims.
    inject: [shims],
    plugins: [{ name: 'node-crypto', setup: (bundle) => bundle.onResolve({ filter: /^(node:)?crypto$/ }, () => ({ path: shims })) }],
  });
  return result.outputFiles[0]!.text;
}

let verifierBundle: Promise<string> | undefined;

/** The verifier's bundle, built on first use and kept; a failed build is tried again next time. */
export function verifierBundleHandler(): RequestHandler {
  return async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    verifierBundle ??= buildVerifierBundle().catch((error: unknown) => {
      verifierBundle = undefined;
      throw error;
    });
    const text = await verifierBundle;
    // Revalidated by its ETag on every load: a new build is picked up at once.
    res.setHeader('Cache-Control', 'private, no-cache');
    res.type('text/javascript; charset=utf-8').send(text);
  };
}

/** The first instant of Hong Kong day `day` (`YYYY-MM-DD`), or undefined when it is not a real date. */
function dayStart(day: string): Date | undefined {
  if (!DAY.test(day)) return undefined;
  const start = new Date(`${day}T00:00:00+08:00`);
  return Number.isNaN(start.getTime()) || new Date(start.getTime() + 8 * 3600_000).toISOString().slice(0, 10) !== day ? undefined : start;
}

const nextDay = (start: Date) => new Date(start.getTime() + 86_400_000);

function text(value: unknown, max = 128): string {
  return typeof value === 'string' ? value.trim().slice(0, max) : '';
}

export function consoleAuditRouter(deps: ApiDeps): Router {
  const { db, reportsDb, network } = deps;
  const router = Router();
  const html = sendPage;

  router.use(VERIFIER_PATH, forSection(STATEMENTS), verifierBundleHandler());

  /** The clinics the person may choose: their own when confined, else every clinic. */
  const clinicsFor = async (res: Response) => [...(await clinicNamesInScope(db, res))].map(([id, name]) => ({ id, name }));

  /** Generates (records) the statement and reads its figures; the root comes from reading every line, as a download would. */
  const statementFor = async (res: Response, clinicId: string, from: Date, to: Date, language: CheckoutLanguage): Promise<StatementFigures> => {
    const actor = actorOf(res);
    const row = await recordStatement(reportsDb, principalOf(res), actor, { clinicId, from, to }, network);
    const context = await statementContext(reportsDb, row, network);
    const sealer = new StatementSealer();
    for await (const line of statementLines(reportsDb, context)) sealer.add(line);
    const trailer = sealer.trailer(anchorOf(row));
    await sealStatement(reportsDb, row, trailer, actor);
    const summary = await statementSummary(reportsDb, context);
    const { decimals } = context.header.token;
    const hkd = (units: string) => tokenUnitsToFiat(BigInt(units), decimals, CURRENCIES.HKD!);
    const lang = language === 'en' ? 'en' : 'zh-HK';
    return {
      id: row.id,
      clinicName: context.header.clinic.name,
      periodFrom: row.period_from,
      periodTo: row.period_to,
      generatedAt: row.generated_at,
      opening: context.header.opening_balance.hkd_amount,
      closing: context.header.closing_balance.hkd_amount,
      lineCount: trailer.line_count,
      merkleRoot: trailer.merkle_root,
      auditHead: context.header.audit_log_head,
      anchor: trailer.anchor ? { chainId: trailer.anchor.chain_id, txHash: trailer.anchor.tx_hash, blockNumber: trailer.anchor.block_number } : null,
      totals: Object.entries(summary.totals).map(([kind, total]) => ({ kind, count: total!.count, hkd: hkd(total!.token_amount) })),
      // The API's own URLs: the same statement again, in each format (the PDF in the page's language where it has it).
      downloads: FORMATS.map((format) => ({
        format,
        url: `/v1/statements/${encodeURIComponent(row.id)}?${new URLSearchParams({ format, ...(format === 'pdf' ? { lang } : {}) })}`,
      })),
    };
  };

  // Showing a statement reads all its lines, as a download does: the same limits per caller and in all.
  const statementLimits: RequestHandler = (req, res, next) => {
    if (typeof req.query.clinic_id !== 'string' || req.query.clinic_id === '') return next();
    deps.rateLimits.expensive(req, res, (error?: unknown) => (error ? next(error) : deps.reportSlots.hold()(req, res, next)));
  };

  router.get(STATEMENTS, forSection(STATEMENTS), statementLimits, async (req: Request, res: Response) => {
    res.setHeader('Content-Security-Policy', statementsCsp(String(res.getHeader('Content-Security-Policy') ?? '')));
    const choice: StatementChoice = { clinicId: text(req.query.clinic_id, 64), from: text(req.query.from, 10), to: text(req.query.to, 10) };
    const clinics = await clinicsFor(res);
    const view: StatementsView = { clinics, choice, errors: {}, statement: undefined };
    const render = (status: number) => html(req, res, status, (language) => renderStatementsPage(language, staffOf(res), view));
    if (choice.clinicId === '' && choice.from === '' && choice.to === '') return render(200);

    // A clinic the person may not see is the same 404 page as one that does not exist.
    if (choice.clinicId !== '' && !clinics.some((clinic) => clinic.id === choice.clinicId)) return sendNotFound(req, res);
    const errors: StatementsView['errors'] = {};
    if (choice.clinicId === '') errors.clinic_id = { key: 'bad_clinic' };
    const from = dayStart(choice.from);
    const last = dayStart(choice.to);
    if (!from) errors.from = { key: 'bad_from' };
    if (!last) errors.to = { key: 'bad_to' };
    if (from && last) {
      const to = nextDay(last);
      if (to <= from) errors.to = { key: 'bad_order' };
      else if (to.getTime() - from.getTime() > MAX_STATEMENT_DAYS * 86_400_000) errors.to = { key: 'too_long', params: { days: MAX_STATEMENT_DAYS } };
      else if (from >= new Date()) errors.from = { key: 'in_future' };
    }
    view.errors = errors;
    if (Object.keys(errors).length > 0) return render(400);
    try {
      view.statement = await statementFor(res, choice.clinicId, from!, nextDay(last!), languageOf(req));
    } catch (error) {
      if (error instanceof NotFoundError) return sendNotFound(req, res);
      if (error instanceof ValidationError) {
        view.errors = { to: { key: 'bad_period' } satisfies PageNotice };
        return render(400);
      }
      throw error;
    }
    render(200);
  });

  router.get(AUDIT, forSection(AUDIT), async (req: Request, res: Response) => {
    const filters: AuditFilters = {
      from: text(req.query.from, 10),
      to: text(req.query.to, 10),
      actor: text(req.query.actor),
      action: text(req.query.action, 64),
      targetType: text(req.query.target_type, 32),
      targetId: text(req.query.target_id),
    };
    const invalid: AuditFilterName[] = [];
    const from = filters.from === '' ? undefined : dayStart(filters.from);
    const last = filters.to === '' ? undefined : dayStart(filters.to);
    if (filters.from !== '' && !from) invalid.push('from');
    if (filters.to !== '' && !last) invalid.push('to');
    if (from && last && last < from) invalid.push('to');
    if (filters.action !== '' && !/^[a-z_.]{1,64}$/.test(filters.action)) invalid.push('action');
    if (filters.targetType !== '' && !/^[a-z_]{1,32}$/.test(filters.targetType)) invalid.push('targetType');
    if (filters.targetId !== '' && !/^[A-Za-z0-9_:.-]{1,128}$/.test(filters.targetId)) invalid.push('targetId');
    // Paging cursors are row ids, as the API's: older than `before`, or newer than `after`.
    const cursor = (value: unknown) => (typeof value === 'string' && /^[a-z]{2,8}_[0-9a-z]{1,40}$/.test(value) ? value : undefined);
    const before = cursor(req.query.before);
    const after = before === undefined ? cursor(req.query.after) : undefined;
    if (invalid.length > 0) {
      return html(req, res, 400, (language) => renderAuditPage(language, staffOf(res), { filters, invalid, rows: [], older: undefined, newer: undefined }));
    }

    const optional = (value: string) => (value === '' ? undefined : value);
    const filter = {
      action: optional(filters.action),
      targetId: optional(filters.targetId),
      targetType: optional(filters.targetType),
      actor: optional(filters.actor),
      occurredFrom: from,
      occurredBefore: last ? nextDay(last) : undefined,
    };
    const page = await listAuditLog(db, scopeOf(res), filter, {
      limit: AUDIT_PAGE_SIZE,
      ...(before ? { startingAfter: before } : {}),
      ...(after ? { endingBefore: after } : {}),
    }).catch((error: unknown) => {
      // A cursor row that is not there (or not of the person's clinic) pages from the newest instead.
      if (error instanceof ValidationError) return listAuditLog(db, scopeOf(res), filter, { limit: AUDIT_PAGE_SIZE });
      throw error;
    });
    const more = page.hasMore;
    const rows: AuditRowView[] = page.data.map((row) => ({
      id: row.id,
      seq: row.seq,
      occurredAt: new Date(row.occurred_at),
      actor: row.actor,
      role: row.role,
      auth: (row.auth as Record<string, unknown> | null) ?? null,
      action: row.action,
      targetType: row.target_type ?? null,
      targetId: row.target_id ?? null,
    }));
    const newest = rows[0]?.id;
    const oldest = rows.at(-1)?.id;
    // Paged back from a newer row there is always something newer, and forward from an older row something older.
    const older = after !== undefined || more ? oldest : undefined;
    const newer = before !== undefined || (after !== undefined && more) ? newest : undefined;
    html(req, res, 200, (language) => renderAuditPage(language, staffOf(res), { filters, invalid, rows, older, newer }));
  });

  return router;
}
