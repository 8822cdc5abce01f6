/**
 * API bearer tokens: verification against a pinned algorithm with issuer, audience and expiry
 * required, and dev token signing for `npx clinicpay token`.
 */
import { createPublicKey, createSecretKey } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AuthenticationError } from './errors.js';
import { CLINIC_ROLES, isRole, type Principal, type Role } from './principal.js';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface JwtKey {
  algorithm: JwtAlgorithm;
  /** The HS256 secret, or the PEM public key. */
  key: string;
}

export interface JwtVerifierParameters extends JwtKey {
  issuer: string;
  audience: string;
}

export type VerifyToken = (token: string) => Principal;

const CLINIC_ID = /^clin_[0-9a-f]{24}$/;
const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Returns a verifier that accepts only tokens signed with exactly `algorithm` (so `alg: none`
 * and algorithm-confusion tokens fail), from `issuer`, for `audience`, with an `exp`, and
 * with claims that make sense for their role.
 */
export function createJwtVerifier({ algorithm, key, issuer, audience }: JwtVerifierParameters): VerifyToken {
  // A KeyObject made once: given a string, jsonwebtoken tries to parse it as a PEM key on every call.
  const keyObject = algorithm === 'HS256' ? createSecretKey(Buffer.from(key, 'utf8')) : createPublicKey(key);
  return (token) => {
    let payload: jwt.JwtPayload;
    try {
      const decoded = jwt.verify(token, keyObject, { algorithms: [algorithm], issuer, audience, clockTolerance: CLOCK_TOLERANCE_SECONDS });
      if (typeof decoded === 'string') throw new Error('payload is not a JSON object');
      payload = decoded;
    } catch (error) {
      if (error instanceof jwt.TokenExpiredError) throw new AuthenticationError('token_expired', 'The bearer token has expired.', error);
      throw new AuthenticationError('invalid_token', 'The bearer token is not valid.', error);
    }
    if (typeof payload.exp !== 'number') throw new AuthenticationError('invalid_token', 'The bearer token has no expiry (exp).');
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 200) {
      throw new AuthenticationError('invalid_token', 'The bearer token has no subject (sub).');
    }
    const role: unknown = payload.role;
    if (!isRole(role)) throw new AuthenticationError('invalid_token', 'The bearer token has no known role.');
    const clinicId: unknown = payload.clinic_id;
    if (clinicId !== undefined && (typeof clinicId !== 'string' || !CLINIC_ID.test(clinicId))) {
      throw new AuthenticationError('invalid_token', 'The bearer token has a malformed clinic_id.');
    }
    if (CLINIC_ROLES.includes(role) && clinicId === undefined) throw new AuthenticationError('invalid_token', `A ${role} token must carry clinic_id.`);
    if (role === 'platform_admin' && clinicId !== undefined) throw new AuthenticationError('invalid_token', 'A platform_admin token must not carry clinic_id.');
    return { sub: payload.sub, role, clinicId };
  };
}

export interface SignTokenParameters {
  secret: string;
  issuer: string;
  audience: string;
  role: Role;
  sub: string;
  clinicId?: string | undefined;
  ttlSeconds: number;
}

/** Signs an HS256 token (development and tests; production tokens come from the operator's identity provider). */
export function signHs256Token({ secret, issuer, audience, role, sub, clinicId, ttlSeconds }: SignTokenParameters): string {
  return jwt.sign({ role, ...(clinicId === undefined ? {} : { clinic_id: clinicId }) }, secret, {
    algorithm: 'HS256',
    issuer,
    audience,
    subject: sub,
    expiresIn: ttlSeconds,
  });
}

/** Parses a time-to-live such as `30s`, `15m`, `1h` or `7d` into seconds (1 s to 30 days). */
export function parseTtl(text: string): number {
  const match = /^(\d{1,6})(s|m|h|d)$/.exec(text);
  if (!match) throw new Error(`ttl must look like 30s, 15m, 1h or 7d, got "${text}"`);
  const seconds = Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as 's' | 'm' | 'h' | 'd'];
  if (seconds < 1 || seconds > 30 * 86_400) throw new Error('ttl must be between 1s and 30d');
  return seconds;
}
