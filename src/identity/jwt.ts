/**
 * API bearer tokens: verification (jose) against pinned algorithms, with issuer, audience,
 * expiry, issue time and a maximum age required; keys from a shared secret (development), a
 * PEM public key, or a JWKS URL whose keys are picked by `kid` and refetched when an unknown
 * `kid` appears, so the identity provider can rotate keys without a restart. Dev tokens are
 * signed for `npx clinicpay token`.
 */
import { createPublicKey, createSecretKey, randomUUID } from 'node:crypto';
import { createRemoteJWKSet, errors, type JWTPayload, type JWTVerifyGetKey, jwtVerify, type KeyObject } from 'jose';
import jwt from 'jsonwebtoken';
import { AuthenticationError } from './errors.js';
import { CLINIC_ROLES, isRole, type Principal, type Role } from './principal.js';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

/** Where the keys that verify tokens come from. */
export type JwtKey =
  | {
      algorithm: JwtAlgorithm;
      /** The HS256 secret, or the PEM public key. */
      key: string;
    }
  | {
      /** An identity provider's JWKS (`https://…/.well-known/jwks.json`): RS256 and ES256 keys, chosen by `kid`. */
      jwksUrl: string;
    };

export type JwtVerifierParameters = JwtKey & {
  issuer: string;
  audience: string;
  /** Tokens issued longer ago than this are refused, whatever their `exp`. Default 24 h. */
  maxAgeSeconds?: number | undefined;
  /** With a JWKS: no refetch sooner than this after the last one, however many unknown `kid`s arrive. Default 30 s. */
  jwksCooldownMs?: number | undefined;
};

export type VerifyToken = (token: string) => Promise<Principal>;

const CLINIC_ID = /^clin_[0-9a-f]{24}$/;
const CLOCK_TOLERANCE_SECONDS = 5;
export const DEFAULT_JWT_MAX_AGE_SECONDS = 86_400;
/** A JWKS fetch that takes longer fails the request (401) rather than holding it. */
const JWKS_TIMEOUT_MS = 5000;
/** At most one refetch of the JWKS per this long, however many unknown `kid`s arrive. */
const JWKS_COOLDOWN_MS = 30_000;

/**
 * Returns a verifier that accepts only tokens signed with the pinned algorithms (so `alg: none`
 * and algorithm-confusion tokens fail), from `issuer`, for `audience`, with `exp`, `iat` and
 * `sub`, issued at most `maxAgeSeconds` ago, and with claims that make sense for their role.
 */
export function createJwtVerifier(parameters: JwtVerifierParameters): VerifyToken {
  const { issuer, audience, maxAgeSeconds = DEFAULT_JWT_MAX_AGE_SECONDS } = parameters;
  let key: KeyObject | JWTVerifyGetKey;
  let algorithms: JwtAlgorithm[];
  if ('jwksUrl' in parameters) {
    key = createRemoteJWKSet(new URL(parameters.jwksUrl), {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cooldownDuration: parameters.jwksCooldownMs ?? JWKS_COOLDOWN_MS,
    });
    // Never HS256 from a JWKS: a public key set must not become a shared secret.
    algorithms = ['RS256', 'ES256'];
  } else {
    key = parameters.algorithm === 'HS256' ? createSecretKey(Buffer.from(parameters.key, 'utf8')) : createPublicKey(parameters.key);
    algorithms = [parameters.algorithm];
  }
  const verified = new VerifiedTokens();
  return async (token) => {
    const known = verified.get(token);
    if (known) return known;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key as KeyObject, {
        algorithms,
        issuer,
        audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        maxTokenAge: maxAgeSeconds,
        requiredClaims: ['exp', 'iat', 'sub'],
      }));
    } catch (error) {
      throw asAuthenticationError(error, maxAgeSeconds);
    }
    const principal = principalFromClaims(payload);
    // jose has checked both claims; accepted until the earlier of the moments it would refuse the token again.
    verified.set(token, principal, Math.min(payload.exp!, payload.iat! + maxAgeSeconds) + CLOCK_TOLERANCE_SECONDS);
    return { ...principal };
  };
}

/** Tokens remembered at once; the oldest goes first when full. */
const VERIFIED_TOKENS_MAX = 1000;
/** The longest a token is trusted without checking its signature again (so a key dropped from a JWKS stops working). */
const VERIFIED_TOKEN_TTL_MS = 60_000;

/**
 * Tokens whose signature and claims have been verified, so that a caller's next requests do not
 * pay for the signature check again (through WebCrypto, a good part of a small request's CPU).
 * Keyed by the whole token text: only the very same bytes are taken as verified. Revocation is
 * not remembered here; it is checked on every request.
 */
class VerifiedTokens {
  private readonly entries = new Map<string, { principal: Principal; until: number }>();

  get(token: string): Principal | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (Date.now() >= entry.until) {
      this.entries.delete(token);
      return undefined;
    }
    return { ...entry.principal };
  }

  /** `expiresAtSeconds`: when the token would no longer verify. */
  set(token: string, principal: Principal, expiresAtSeconds: number): void {
    const until = Math.min(expiresAtSeconds * 1000, Date.now() + VERIFIED_TOKEN_TTL_MS);
    if (this.entries.size >= VERIFIED_TOKENS_MAX) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(token, { principal, until });
  }
}

function asAuthenticationError(error: unknown, maxAgeSeconds: number): AuthenticationError {
  // jose reports a token past the maximum age as expired, naming the iat claim.
  if (error instanceof errors.JWTExpired && error.claim === 'iat') {
    return new AuthenticationError('token_expired', `The bearer token was issued more than ${maxAgeSeconds} s ago; get a new one.`, error);
  }
  if (error instanceof errors.JWTExpired) return new AuthenticationError('token_expired', 'The bearer token has expired.', error);
  if (error instanceof errors.JWTClaimValidationFailed && error.reason === 'missing') {
    return new AuthenticationError('invalid_token', `The bearer token has no ${error.claim} claim.`, error);
  }
  return new AuthenticationError('invalid_token', 'The bearer token is not valid.', error);
}

function principalFromClaims(payload: JWTPayload): Principal {
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
  const tokenId = typeof payload.jti === 'string' && payload.jti.length > 0 && payload.jti.length <= 200 ? payload.jti : undefined;
  return { sub: payload.sub, role, clinicId, tokenId, issuedAt: new Date(payload.iat! * 1000), method: 'jwt' };
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
    // A token id, so that one token can be revoked on its own.
    jwtid: randomUUID(),
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
