/**
 * The cookies of people's sessions, and the checks every request made with one passes: the
 * session must be live, and a request that changes something must carry the session's CSRF
 * token and come from a page of this gateway (`Origin`, or `Sec-Fetch-Site` when a browser
 * sends no Origin).
 *
 * Cookies are HttpOnly, SameSite=Lax, path `/`. Where the gateway is reached over https, or on
 * this machine's loopback (browsers treat both as secure), they are `Secure` and carry the
 * `__Host-` prefix, so no other host or path can set or shadow them; a development gateway
 * reached over plain http from another machine gets the same cookies without those two.
 */
import type { Request, Response } from 'express';
import { AuthenticationError } from '../identity/errors.js';
import { isCsrfTokenOf } from '../identity/sessions.js';
import { ClinicPayError } from '../platform/errors.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface CookieSettings {
  /** Whether cookies are Secure with the `__Host-` prefix. */
  secure: boolean;
}

/** Secure cookies wherever browsers take them: https, production, and loopback in development. */
export function cookieSettingsFor(baseUrl: string | undefined, production: boolean): CookieSettings {
  if (production) return { secure: true };
  if (baseUrl === undefined) return { secure: true };
  const url = new URL(baseUrl);
  return { secure: url.protocol === 'https:' || LOOPBACK_HOSTS.has(url.hostname) };
}

export const SESSION_COOKIE = 'clinicpay_session';
/** The sealed state of a sign-in in progress (state, nonce, PKCE verifier). */
export const SIGN_IN_COOKIE = 'clinicpay_sign_in';

export function cookieName(settings: CookieSettings, base: string): string {
  return settings.secure ? `__Host-${base}` : base;
}

/** The value of cookie `name` on the request, if it has exactly one. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.get('cookie');
  if (!header) return undefined;
  let found: string | undefined;
  for (const part of header.split(';')) {
    const at = part.indexOf('=');
    if (at < 0 || part.slice(0, at).trim() !== name) continue;
    // Two cookies of one name (one planted by a sibling host) are refused rather than guessed between.
    if (found !== undefined) return undefined;
    found = part.slice(at + 1).trim();
  }
  return found;
}

export function setCookie(res: Response, settings: CookieSettings, base: string, value: string, maxAgeSeconds: number): void {
  const attributes = [`${cookieName(settings, base)}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Lax', `Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}`];
  if (settings.secure) attributes.push('Secure');
  res.append('Set-Cookie', attributes.join('; '));
}

export function clearCookie(res: Response, settings: CookieSettings, base: string): void {
  setCookie(res, settings, base, '', 0);
}

/** The origin browsers show for this gateway: PUBLIC_URL's, or (development without one) the request's own. */
export function ownOrigin(req: Request, publicUrl: string | undefined): string {
  return publicUrl === undefined ? `${req.protocol}://${req.get('host') ?? 'localhost'}` : new URL(publicUrl).origin;
}

/** A state-changing request with a session that lacks the CSRF token or comes from elsewhere (403). */
export class CsrfError extends ClinicPayError {
  override name = 'CsrfError';
  constructor(message: string) {
    super('csrf_failed', message);
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Refuses a state-changing request made with session `secret` unless it comes from a page of
 * this gateway and carries the session's CSRF token (header `X-CSRF-Token`, or form field
 * `_csrf`).
 */
export function checkCsrf(req: Request, secret: string, origin: string): void {
  if (SAFE_METHODS.has(req.method)) return;
  const offeredOrigin = req.get('origin');
  if (offeredOrigin !== undefined) {
    if (offeredOrigin !== origin) throw new CsrfError('This request comes from a page of another site.');
  } else if (req.get('sec-fetch-site') !== 'same-origin') {
    throw new CsrfError('This request does not say which page it comes from (no Origin header).');
  }
  const body = req.body as Record<string, unknown> | undefined;
  const offered = req.get('x-csrf-token') ?? (typeof body?._csrf === 'string' ? body._csrf : undefined);
  if (!isCsrfTokenOf(secret, offered)) throw new CsrfError('The CSRF token is missing or is not this session’s.');
}

/** The 401 of a session cookie that names no live session. */
export function sessionExpired(): AuthenticationError {
  return new AuthenticationError('session_expired', 'Your session has ended. Sign in again.');
}
