/**
 * Authentication and role checks for the `/v1` API: a bearer token (JWT or API key), or a
 * signed-in person's session cookie with its CSRF token; either becomes one principal.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { AuditActor, AuditSummary } from '../audit/auditLog.js';
import { AuthenticationError, ForbiddenError, StepUpRequiredError } from '../identity/errors.js';
import type { VerifyToken } from '../identity/jwt.js';
import type { Principal, Role } from '../identity/principal.js';
import { type SessionRow, sessionPrincipal } from '../identity/sessions.js';
import type { Logger } from '../platform/log.js';
import { type CookieSettings, checkCsrf, cookieName, readCookie, SESSION_COOKIE, sessionExpired } from './sessionCookies.js';

export interface AuthenticateDeps {
  verify: VerifyToken;
  /** Whether a clinic exists: a token may be validly signed for a clinic that does not. */
  clinicExists(clinicId: string): Promise<boolean>;
  /** Whether the caller's token has been revoked (by its jti, or its subject). */
  isRevoked(principal: Principal): Promise<boolean>;
  /** Refusals counted per client address (rate limits); absent: none. */
  failedAuth?: { refuseIfBlocked(req: Request): Promise<void>; record(req: Request): Promise<void> } | undefined;
  /** People's sessions: a request without `Authorization` may bring a session cookie instead. */
  sessions?: SessionAuth | undefined;
  logger: Logger;
}

/** How a session cookie becomes a principal. */
export interface SessionAuth {
  cookies: CookieSettings;
  /** The live session a cookie's secret names, if any. */
  find(secret: string): Promise<SessionRow | undefined>;
  /** The gateway's own origin as browsers see it, for the Origin check. */
  origin(req: Request): string;
}

/**
 * Verifies `Authorization: Bearer <jwt>` (the scheme's name in any case, RFC 9110 §11.1),
 * refuses a revoked token, and puts the caller in `res.locals.principal`. A token for a clinic that does not exist is
 * refused (403) and logged: it was signed by a key the gateway trusts, for something that
 * never was.
 */
export function authenticate({ verify, clinicExists, isRevoked, failedAuth, sessions, logger }: AuthenticateDeps): RequestHandler {
  // Clinics are never deleted: one found stays found.
  const known = new Set<string>();
  return async (req, res, next) => {
    const header = req.get('authorization');
    const cookie = sessions && !header ? readCookie(req, cookieName(sessions.cookies, SESSION_COOKIE)) : undefined;
    if (sessions && cookie !== undefined) {
      await failedAuth?.refuseIfBlocked(req);
      const session = await sessions.find(cookie);
      if (!session) {
        await failedAuth?.record(req);
        throw sessionExpired();
      }
      // Revoking a subject's tokens ends the sessions it started before, too.
      if (await isRevoked({ ...sessionPrincipal(session), issuedAt: session.created_at })) throw sessionExpired();
      checkCsrf(req, cookie, sessions.origin(req));
      res.locals.principal = sessionPrincipal(session);
      res.locals.session = session;
      return next();
    }
    if (!header)
      throw withChallenge(res, new AuthenticationError('missing_token', 'This endpoint needs an Authorization: Bearer token (or a signed-in session).'));
    await failedAuth?.refuseIfBlocked(req);
    const match = /^bearer ([A-Za-z0-9_.-]{1,4096})$/i.exec(header);
    if (!match) throw withChallenge(res, new AuthenticationError('invalid_token', 'The Authorization header must be "Bearer <token>".'));
    let principal: Principal;
    try {
      principal = await verify(match[1]!);
    } catch (error) {
      if (error instanceof AuthenticationError) await failedAuth?.record(req);
      throw withChallenge(res, error);
    }
    if (await isRevoked(principal)) {
      await failedAuth?.record(req);
      logger.warn({ req_id: res.locals.requestId as string | undefined, sub: principal.sub, role: principal.role }, 'revoked token refused');
      throw withChallenge(res, new AuthenticationError('invalid_token', 'The bearer token has been revoked.'));
    }
    if (principal.clinicId !== undefined && !known.has(principal.clinicId)) {
      if (!(await clinicExists(principal.clinicId))) {
        logger.warn({ req_id: res.locals.requestId as string | undefined, sub: principal.sub, role: principal.role }, 'token for a clinic that does not exist');
        throw new ForbiddenError('The clinic this token is for does not exist.');
      }
      known.add(principal.clinicId);
    }
    res.locals.principal = principal;
    next();
  };
}

function withChallenge(res: Response, error: unknown): unknown {
  if (error instanceof AuthenticationError) res.setHeader('WWW-Authenticate', `Bearer error="invalid_token"`);
  return error;
}

/** The caller of an authenticated request. */
export function principalOf(res: Response): Principal {
  const principal = res.locals.principal as Principal | undefined;
  if (!principal) throw new Error('principalOf called on a route without authenticate()');
  return principal;
}

/** Refuses (403) callers whose role is not in `roles`. */
export function requireRole(...roles: Role[]): RequestHandler {
  return (_req, res, next) => {
    if (!roles.includes(principalOf(res).role)) throw new ForbiddenError();
    next();
  };
}

/** Refuses (403) callers confined to one clinic, for what spans every clinic. */
export function requireUnconfined(message: string): RequestHandler {
  return (_req, res, next) => {
    if (principalOf(res).clinicId !== undefined) throw new ForbiddenError(message);
    next();
  };
}

/**
 * The caller of an authenticated request as the audit log names it: subject, role, request id,
 * and how it authenticated (with the step-up that allowed the action, when one was needed).
 */
export function actorOf(res: Response): AuditActor {
  const principal = principalOf(res);
  const stepUp = res.locals.stepUp as AuditSummary | undefined;
  return {
    actor: principal.sub,
    role: principal.role,
    requestId: (res.locals.requestId as string | undefined) ?? null,
    auth: { method: principal.method, ...stepUp },
  };
}

/** How long a passkey step-up lets a session approve. */
export const STEP_UP_WINDOW_MS = 5 * 60_000;

/**
 * For actions that move money or hand out access: a session needs a passkey step-up from the
 * last five minutes; a bearer token or API key passes only where the operator allows it
 * (`allowTokens`, ALLOW_TOKEN_APPROVALS). What let the action through goes into its audit row.
 */
export function requireStepUp(allowTokens: boolean): RequestHandler {
  return (_req, res, next) => {
    const principal = principalOf(res);
    if (principal.method === 'session') {
      const at = principal.session?.steppedUpAt ?? null;
      if (at === null || Date.now() - at.getTime() > STEP_UP_WINDOW_MS) {
        throw new StepUpRequiredError('Confirm with your passkey first: this action needs a confirmation from the last five minutes.');
      }
      res.locals.stepUp = { step_up: 'passkey', passkey_id: principal.session!.stepUpPasskeyId, stepped_up_at: at.toISOString() } satisfies AuditSummary;
      return next();
    }
    if (!allowTokens) {
      throw new StepUpRequiredError('This action needs a person confirming with a passkey; the operator has not allowed it by token or API key.');
    }
    res.locals.stepUp = { step_up: 'allowed_for_tokens' } satisfies AuditSummary;
    next();
  };
}

/**
 * Guards `GET /metrics` with `METRICS_TOKEN` when one is configured (compared in constant time);
 * without one, metrics are open, as Prometheus scrapers expect on a private network.
 */
export function metricsAccess(token: string | undefined): RequestHandler {
  const expected = token === undefined ? undefined : createHash('sha256').update(token).digest();
  return (req, res, next) => {
    if (expected === undefined) return next();
    const offered = /^bearer (\S+)$/i.exec(req.get('authorization') ?? '')?.[1];
    if (offered !== undefined && timingSafeEqual(createHash('sha256').update(offered).digest(), expected)) return next();
    throw withChallenge(
      res,
      new AuthenticationError(
        offered === undefined ? 'missing_token' : 'invalid_token',
        'Metrics need the Authorization: Bearer METRICS_TOKEN of this gateway.',
      ),
    );
  };
}
