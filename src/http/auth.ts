/**
 * Bearer authentication and role checks for the `/v1` API.
 */
import type { RequestHandler, Response } from 'express';
import type { AuditActor } from '../audit/auditLog.js';
import { AuthenticationError, ForbiddenError } from '../identity/errors.js';
import type { VerifyToken } from '../identity/jwt.js';
import type { Principal, Role } from '../identity/principal.js';

/** Verifies `Authorization: Bearer <jwt>` and puts the caller in `res.locals.principal`. */
export function authenticate(verify: VerifyToken): RequestHandler {
  return (req, res, next) => {
    const header = req.get('authorization');
    if (!header) throw withChallenge(res, new AuthenticationError('missing_token', 'This endpoint needs an Authorization: Bearer token.'));
    const match = /^Bearer ([A-Za-z0-9_.-]{1,4096})$/.exec(header);
    if (!match) throw withChallenge(res, new AuthenticationError('invalid_token', 'The Authorization header must be "Bearer <token>".'));
    try {
      res.locals.principal = verify(match[1]!);
    } catch (error) {
      throw withChallenge(res, error);
    }
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

/** The caller of an authenticated request as the audit log names it (subject, role, request id). */
export function actorOf(res: Response): AuditActor {
  const principal = principalOf(res);
  return { actor: principal.sub, role: principal.role, requestId: (res.locals.requestId as string | undefined) ?? null };
}
