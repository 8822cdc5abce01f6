/**
 * Bearer authentication and role checks for the `/v1` API.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { AuditActor } from '../audit/auditLog.js';
import { AuthenticationError, ForbiddenError } from '../identity/errors.js';
import type { VerifyToken } from '../identity/jwt.js';
import type { Principal, Role } from '../identity/principal.js';
import type { Logger } from '../platform/log.js';

export interface AuthenticateDeps {
  verify: VerifyToken;
  /** Whether a clinic exists: a token may be validly signed for a clinic that does not. */
  clinicExists(clinicId: string): Promise<boolean>;
  /** Whether the caller's token has been revoked (by its jti, or its subject). */
  isRevoked(principal: Principal): Promise<boolean>;
  /** Refusals counted per client address (rate limits); absent: none. */
  failedAuth?: { refuseIfBlocked(req: Request): Promise<void>; record(req: Request): Promise<void> } | undefined;
  logger: Logger;
}

/**
 * Verifies `Authorization: Bearer <jwt>` (the scheme's name in any case, RFC 9110 §11.1),
 * refuses a revoked token, and puts the caller in `res.locals.principal`. A token for a clinic that does not exist is
 * refused (403) and logged: it was signed by a key the gateway trusts, for something that
 * never was.
 */
export function authenticate({ verify, clinicExists, isRevoked, failedAuth, logger }: AuthenticateDeps): RequestHandler {
  // Clinics are never deleted: one found stays found.
  const known = new Set<string>();
  return async (req, res, next) => {
    const header = req.get('authorization');
    if (!header) throw withChallenge(res, new AuthenticationError('missing_token', 'This endpoint needs an Authorization: Bearer token.'));
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

/** The caller of an authenticated request as the audit log names it (subject, role, request id). */
export function actorOf(res: Response): AuditActor {
  const principal = principalOf(res);
  return { actor: principal.sub, role: principal.role, requestId: (res.locals.requestId as string | undefined) ?? null };
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
