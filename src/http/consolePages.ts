/**
 * What every console router shares: the page's language, the signed-in person and their clinic
 * scope (set by the sign-in router's `/console` guard), sending a page, and the 403 and 404 pages.
 */
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import { clinicNames } from '../billing/clinics.js';
import { type CheckoutLanguage, negotiateLanguage } from '../checkout/messages.js';
import { renderNotFoundPage, renderTroublePage, type StaffPerson, sectionAllows } from '../console/pages.js';
import type { ClinicScope } from '../identity/principal.js';
import { type Db, isDatabaseUnreachable } from '../platform/db.js';
import { errorSummary, type Logger } from '../platform/log.js';
import { principalOf } from './auth.js';
import { problemFromError } from './problem.js';

export function languageOf(req: Request): CheckoutLanguage {
  return negotiateLanguage(req.query.lang, req.get('accept-language'));
}

/** The person the page is for. */
export function staffOf(res: Response): StaffPerson {
  return res.locals.staff as StaffPerson;
}

export { principalOf };

/**
 * The clinic scope of the page's reads: the person's own clinic, or, for roles that span clinics,
 * the clinic chosen with the bar's clinic switcher (`res.locals.clinicChoice`), or every clinic.
 */
export function scopeOf(res: Response): ClinicScope {
  return { clinicId: principalOf(res).clinicId ?? (res.locals.clinicChoice as string | undefined) };
}

/**
 * The names of the clinics in the page's scope, by id. For people of every clinic the sign-in
 * guard has read them already (for the bar's switcher): those are narrowed here, not read again.
 */
export async function clinicNamesInScope(db: Db, res: Response): Promise<Map<string, string>> {
  const scope = scopeOf(res);
  const known = staffOf(res).clinics;
  if (!known) return clinicNames(db, scope);
  return new Map(known.filter((clinic) => scope.clinicId === undefined || clinic.id === scope.clinicId).map((clinic) => [clinic.id, clinic.name]));
}

export function sendPage(req: Request, res: Response, status: number, render: (language: CheckoutLanguage) => string): void {
  const language = languageOf(req);
  res.status(status).type('html').setHeader('Content-Language', language);
  res.send(render(language));
}

/** The same 404 page for an unknown id and for another clinic's object. */
export function sendNotFound(req: Request, res: Response): void {
  sendPage(req, res, 404, (language) => renderNotFoundPage(language, staffOf(res)));
}

/** Middleware: a 403 page unless the person's role uses the console section at `section`. */
export function forSection(section: string): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!sectionAllows(section, staffOf(res).role)) return sendPage(req, res, 403, (language) => renderNotFoundPage(language, staffOf(res), 'not_for_role'));
    next();
  };
}

/**
 * The console's error pages: a page a person can read, in their language, instead of a JSON
 * problem. The database out of reach is a 503 that says so; an unexpected error a 500 with the
 * request id, logged once. Expected problems (400, 403, 429…) and requests for JSON (the pages'
 * own status polls) get the API's problem.
 */
export function consoleErrorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent || req.accepts(['application/json', 'text/html']) !== 'text/html') return next(err);
    const unreachable = isDatabaseUnreachable(err);
    // Errors the gateway expects (a missing CSRF token, a refused sign-in) keep their own answers.
    if (!unreachable && problemFromError(err).expected) return next(err);
    const reference = String(res.locals.requestId ?? '');
    if (unreachable) logger.warn({ req_id: reference, err: errorSummary(err) }, 'console page without its database');
    else logger.error({ req_id: reference, method: req.method, route: 'console', err: errorSummary(err) }, 'unhandled error');
    // Only the path: the query may carry what a person typed.
    const path = req.method === 'GET' ? req.originalUrl.split('?')[0]! : '/console';
    res.setHeader('Retry-After', unreachable ? '30' : '0');
    sendPage(req, res, unreachable ? 503 : 500, (language) => renderTroublePage(language, unreachable ? 'database' : 'error', { path, reference }));
  };
}
