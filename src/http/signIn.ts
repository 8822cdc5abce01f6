/**
 * People sign in: `/auth/*` runs the OpenID Connect sign-in (authorization code with PKCE) and
 * sign-out, the passkey ceremonies, and `/console` is where a signed-in person lands.
 *
 * - `GET /auth/sign-in` shows the sign-in page (and why the last attempt failed, if it did);
 * - `GET /auth/login` sends the browser to the identity provider, with state, nonce and PKCE
 *   verifier sealed in a ten-minute cookie;
 * - `GET /auth/callback` checks them, finds the person's role (from the provider's claims or a
 *   membership), starts a new session and goes back where the person was going;
 * - `POST /auth/sign-out` ends the session here and sends the browser to the provider's logout;
 * - `GET /auth/session` says who is signed in, with the CSRF token for the API;
 * - `POST /auth/passkeys/options`, `POST /auth/passkeys`, `POST /auth/step-up/options`,
 *   `POST /auth/step-up`: register a passkey, and confirm with one.
 *
 * Every state-changing request here needs the session's CSRF token and this gateway's Origin,
 * as on the API.
 */
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { clinicExists, clinicNames } from '../billing/clinics.js';
import { type CheckoutLanguage, negotiateLanguage } from '../checkout/messages.js';
import { isSignInNotice, renderConsolePage, renderSignedOutPage, renderSignInPage, type SignInNotice, type StaffPerson } from '../console/pages.js';
import { claimMembership } from '../identity/memberships.js';
import { claimsFit, IdentityProviderUnavailableError, type OidcRelyingParty, type PendingSignIn, SignInRefusedError } from '../identity/oidc.js';
import { listPasskeys, registerPasskey, registrationOptions, relyingPartyOf, stepUp, stepUpOptions } from '../identity/passkeys.js';
import type { Role } from '../identity/principal.js';
import {
  csrfTokenOf,
  endSession,
  findSession,
  type SessionRow,
  type SessionSettings,
  type SignedInPerson,
  sessionPrincipal,
  startSession,
} from '../identity/sessions.js';
import { ValidationError } from '../platform/errors.js';
import { CONSOLE_ASSETS_DIR, WEBAUTHN_BROWSER_BUNDLE } from '../platform/paths.js';
import type { SecretBox } from '../platform/secretBox.js';
import { withTransaction } from '../platform/transaction.js';
import type { ApiDeps } from './apiDeps.js';
import { pageCsp } from './checkout.js';
import { RateLimitedError } from './errors.js';
import { sendJson } from './json.js';
import {
  type CookieSettings,
  checkCsrf,
  clearCookie,
  cookieName,
  ownOrigin,
  readCookie,
  SESSION_COOKIE,
  SIGN_IN_COOKIE,
  sessionExpired,
  setCookie,
} from './sessionCookies.js';

export interface SignInDeps {
  /** The identity provider people sign in with; undefined: sign-in is not set up. */
  relyingParty(): OidcRelyingParty | undefined;
  sessions: SessionSettings;
  cookies: CookieSettings;
}

/** Staff pages: the checkout's policy, with forms to our own origin, which may lead on to the provider's logout. */
export function consoleCsp(providerOrigin: string | undefined): string {
  return pageCsp(`'self'${providerOrigin === undefined ? '' : ` ${providerOrigin}`}`);
}

const SEAL_CONTEXT = 'clinicpay.sign-in';
const ID_TOKEN_CONTEXT = 'clinicpay.session-id-token';
const DEFAULT_RETURN = '/console';
/** The clinic a person of every clinic chose with the switcher, kept for 30 days. */
const CLINIC_CHOICE_COOKIE = 'clinicpay_clinic';
const CLINIC_CHOICE_SECONDS = 30 * 24 * 3600;

/** A path on this gateway to return to after sign-in; anything else (another site, the auth pages) goes to the console. */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length > 512) return DEFAULT_RETURN;
  if (!/^\/(?![/\\])[^\s\\]*$/.test(value) || value.startsWith('/auth/')) return DEFAULT_RETURN;
  return value;
}

function languageOf(req: Request): CheckoutLanguage {
  return negotiateLanguage(req.query.lang, req.get('accept-language'));
}

export function signInRouter(api: ApiDeps, deps: SignInDeps): Router {
  const { db, logger, secrets, rateLimits } = api;
  const publicUrl = api.checkout.publicUrl;
  const router = Router();
  const sessionCookie = cookieName(deps.cookies, SESSION_COOKIE);
  const signInCookie = cookieName(deps.cookies, SIGN_IN_COOKIE);
  const clinicChoiceCookie = cookieName(deps.cookies, CLINIC_CHOICE_COOKIE);
  const origin = (req: Request) => ownOrigin(req, publicUrl);
  const reqId = (res: Response) => (res.locals.requestId as string | undefined) ?? null;

  router.use(['/auth', '/console'], (_req, res, next) => {
    const issuer = deps.relyingParty()?.settings.issuer;
    res.setHeader('Content-Security-Policy', consoleCsp(issuer === undefined ? undefined : new URL(issuer).origin));
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Robots-Tag', 'noindex, nofollow');
    res.setHeader('X-Frame-Options', 'DENY');
    next();
  });
  // Mounted, not routed: assets are files, not operations of the API.
  router.use('/console/assets/webauthn.js', (_req, res) => {
    res.sendFile(WEBAUTHN_BROWSER_BUNDLE, { maxAge: '1h', headers: { 'Content-Type': 'text/javascript; charset=utf-8' } });
  });
  router.use('/console/assets', express.static(CONSOLE_ASSETS_DIR, { index: false, maxAge: '1h', fallthrough: false }));

  const page = (req: Request, res: Response, status: number, render: (language: CheckoutLanguage) => string) => {
    const language = languageOf(req);
    res.status(status).type('html').setHeader('Content-Language', language);
    res.send(render(language));
  };
  const signInPage = (req: Request, res: Response, status: number, notice: SignInNotice | undefined) =>
    page(req, res, status, (language) =>
      renderSignInPage(language, { returnTo: safeReturnTo(req.query.return_to), notice, canSignIn: deps.relyingParty() !== undefined }),
    );
  const toSignIn = (res: Response, notice: SignInNotice, returnTo = DEFAULT_RETURN, language?: CheckoutLanguage) =>
    res.redirect(303, `/auth/sign-in?${new URLSearchParams({ return_to: returnTo, error: notice, ...(language ? { lang: language } : {}) }).toString()}`);

  /** The live session of the request's cookie, if any. */
  const currentSession = async (req: Request): Promise<{ row: SessionRow; secret: string } | undefined> => {
    const secret = readCookie(req, sessionCookie);
    if (secret === undefined) return undefined;
    const row = await findSession(db, secret, deps.sessions);
    // As on the API: revoking a subject ends the sessions it started before.
    if (!row || (await api.revocations.isRevoked({ ...sessionPrincipal(row), issuedAt: row.created_at }))) return undefined;
    return { row, secret };
  };
  /** For the JSON endpoints: a live session whose CSRF token and origin check out, else a problem. */
  const requireSession = async (req: Request, res: Response, next: NextFunction) => {
    const session = await currentSession(req);
    if (!session) throw sessionExpired();
    checkCsrf(req, session.secret, origin(req));
    res.locals.session = session.row;
    next();
  };
  const sessionOf = (res: Response) => res.locals.session as SessionRow;

  router.get('/auth/sign-in', async (req, res) => {
    const rp = deps.relyingParty();
    let notice = isSignInNotice(req.query.error) ? req.query.error : undefined;
    if (!rp) notice = 'not_configured';
    else if (!(await rp.reachable())) notice = 'unavailable';
    signInPage(req, res, notice === 'unavailable' ? 503 : 200, notice);
  });

  router.get(
    '/auth/login',
    rateLimited(rateLimits.signIn, (req, res) => toSignIn(res, 'too_many', safeReturnTo(req.query.return_to))),
    async (req, res) => {
      const rp = deps.relyingParty();
      const returnTo = safeReturnTo(req.query.return_to);
      const language = languageOf(req);
      if (!rp) return toSignIn(res, 'not_configured', returnTo, language);
      let started: { url: URL; pending: PendingSignIn };
      try {
        started = await rp.start(`${origin(req)}/auth/callback`, returnTo);
      } catch (error) {
        if (!(error instanceof IdentityProviderUnavailableError)) throw error;
        logger.warn({ req_id: reqId(res), err: error.cause }, 'identity provider unreachable at sign-in');
        return toSignIn(res, 'unavailable', returnTo, language);
      }
      setCookie(res, deps.cookies, SIGN_IN_COOKIE, secrets.seal(JSON.stringify(started.pending), SEAL_CONTEXT), 600);
      res.redirect(303, started.url.toString());
    },
  );

  router.get(
    '/auth/callback',
    rateLimited(rateLimits.signIn, (_req, res) => toSignIn(res, 'too_many')),
    async (req, res) => {
      const rp = deps.relyingParty();
      const sealed = readCookie(req, signInCookie);
      clearCookie(res, deps.cookies, SIGN_IN_COOKIE);
      const pending = sealed === undefined ? undefined : openPending(secrets, sealed);
      const refuse = (why: string, status = 400, notice: SignInNotice = 'failed') => {
        logger.warn({ req_id: reqId(res), reason: why }, 'sign-in refused');
        signInPage(req, res, status, notice);
      };
      if (!rp) return refuse('sign-in is not configured', 404, 'not_configured');
      if (!pending) return refuse('no sign-in in progress in this browser (missing, tampered or expired cookie)');
      let identity: Awaited<ReturnType<OidcRelyingParty['finish']>>;
      try {
        identity = await rp.finish(new URL(req.originalUrl, origin(req)), pending);
      } catch (error) {
        if (error instanceof IdentityProviderUnavailableError) return refuse('identity provider unreachable', 503, 'unavailable');
        if (error instanceof SignInRefusedError) return refuse(`${error.message} ${error.cause instanceof Error ? error.cause.message : ''}`.trim());
        throw error;
      }
      const account = `${identity.issuer}|${identity.sub}`;
      try {
        await rateLimits.failedSignIns.refuseIfBlocked(account);
      } catch (error) {
        if (error instanceof RateLimitedError) return refuse('too many failed sign-ins for this person', 429, 'too_many');
        throw error;
      }
      const started = await withTransaction(db, async (trx) => {
        let access: { role: Role; clinicId: string | null } | undefined;
        if (
          identity.claimedRole !== undefined &&
          claimsFit(identity.claimedRole, identity.claimedClinicId) &&
          (identity.claimedClinicId === null || (await clinicExists(trx, identity.claimedClinicId)))
        ) {
          access = { role: identity.claimedRole, clinicId: identity.claimedClinicId };
        } else {
          const membership = await claimMembership(trx, identity, reqId(res));
          if (membership) access = { role: membership.role, clinicId: membership.clinic_id };
        }
        if (!access) return undefined;
        const person: SignedInPerson = { issuer: identity.issuer, sub: identity.sub, email: identity.email, name: identity.name, ...access };
        return startSession(trx, person, {
          settings: deps.sessions,
          idTokenSealed: secrets.seal(identity.idToken, ID_TOKEN_CONTEXT),
          replacing: readCookie(req, sessionCookie),
          requestId: reqId(res),
        });
      });
      if (!started) {
        await rateLimits.failedSignIns.record(account);
        return refuse(`no role for ${identity.sub}: no fitting claims and no membership`, 403, 'no_access');
      }
      setCookie(res, deps.cookies, SESSION_COOKIE, started.secret, deps.sessions.maxMs / 1000);
      logger.info({ req_id: reqId(res), sub: started.row.sub, role: started.row.role, session_id: started.row.id }, 'signed in');
      res.redirect(303, pending.returnTo);
    },
  );

  router.post('/auth/sign-out', express.urlencoded({ extended: false, limit: '2kb' }), async (req, res) => {
    const session = await currentSession(req);
    // A forged sign-out changes nothing, not even the cookie: only a request that brought the
    // cookie (never a cross-site one: SameSite=Lax) and, for a live session, its CSRF token clears it.
    if (session) checkCsrf(req, session.secret, origin(req));
    if (readCookie(req, sessionCookie) !== undefined) clearCookie(res, deps.cookies, SESSION_COOKIE);
    if (!session) return res.redirect(303, '/auth/signed-out');
    await withTransaction(db, (trx) => endSession(trx, session.row, reqId(res)));
    logger.info({ req_id: reqId(res), sub: session.row.sub, session_id: session.row.id }, 'signed out');
    const idToken = session.row.id_token_sealed === null ? undefined : secrets.open(session.row.id_token_sealed, ID_TOKEN_CONTEXT);
    const logout = await deps.relyingParty()?.logoutUrl(idToken, `${origin(req)}/auth/signed-out`);
    res.redirect(303, logout?.toString() ?? '/auth/signed-out');
  });

  router.get('/auth/signed-out', (req, res) => page(req, res, 200, renderSignedOutPage));

  router.get('/auth/session', async (req, res) => {
    const session = await currentSession(req);
    if (!session) throw sessionExpired();
    const { row } = session;
    sendJson(res, 200, {
      object: 'session',
      id: row.id,
      sub: row.sub,
      role: row.role,
      clinic_id: row.clinic_id,
      name: row.name,
      email: row.email,
      created_at: row.created_at.toISOString(),
      expires_at: new Date(Math.min(row.expires_at.getTime(), row.last_seen_at.getTime() + deps.sessions.idleMs)).toISOString(),
      stepped_up_at: row.stepped_up_at?.toISOString() ?? null,
      csrf_token: csrfTokenOf(session.secret),
    });
  });

  const json = express.json({ limit: '16kb' });
  const rp = (req: Request) => relyingPartyOf(origin(req));
  router.post('/auth/passkeys/options', rateLimits.signIn, requireSession, async (req, res) => {
    sendJson(res, 200, await registrationOptions(db, rp(req), sessionOf(res)));
  });
  router.post('/auth/passkeys', rateLimits.signIn, json, requireSession, async (req, res) => {
    const body = req.body as { response?: unknown; name?: unknown };
    if (typeof body.response !== 'object' || body.response === null) throw new ValidationError('Send the browser’s answer as "response".', 'response');
    const name = typeof body.name === 'string' && body.name.trim() !== '' ? body.name.trim().slice(0, 100) : 'Passkey';
    const key = await registerPasskey(db, rp(req), sessionOf(res), body.response as Parameters<typeof registerPasskey>[3], name, reqId(res));
    sendJson(res, 201, { object: 'passkey', id: key.id, name: key.name, created_at: key.created_at.toISOString() });
  });
  router.post('/auth/step-up/options', rateLimits.signIn, requireSession, async (req, res) => {
    sendJson(res, 200, await stepUpOptions(db, rp(req), sessionOf(res)));
  });
  router.post('/auth/step-up', rateLimits.signIn, json, requireSession, async (req, res) => {
    const session = sessionOf(res);
    const account = `${session.issuer}|${session.sub}`;
    await rateLimits.failedSignIns.refuseIfBlocked(account);
    const body = req.body as { response?: unknown };
    if (typeof body.response !== 'object' || body.response === null) throw new ValidationError('Send the browser’s answer as "response".', 'response');
    try {
      const done = await stepUp(db, rp(req), session, body.response as Parameters<typeof stepUp>[3]);
      logger.info({ req_id: reqId(res), sub: session.sub, session_id: session.id, passkey_id: done.passkeyId }, 'stepped up with a passkey');
      sendJson(res, 200, { object: 'step_up', passkey_id: done.passkeyId, stepped_up_at: done.at.toISOString() });
    } catch (error) {
      await rateLimits.failedSignIns.record(account);
      throw error;
    }
  });

  // Every console page needs a live session: without one, sign in and come back to the same page.
  router.use('/console', async (req, res, next) => {
    const session = await currentSession(req);
    if (!session) {
      const returnTo = safeReturnTo(req.originalUrl);
      return res.redirect(303, `/auth/sign-in?${new URLSearchParams({ return_to: returnTo, ...(req.query.lang ? { lang: languageOf(req) } : {}) })}`);
    }
    res.locals.session = session.row;
    res.locals.principal = sessionPrincipal(session.row);
    const staff: StaffPerson = {
      name: session.row.name ?? session.row.email ?? session.row.sub,
      role: session.row.role,
      clinicId: session.row.clinic_id,
      csrfToken: csrfTokenOf(session.secret),
    };
    // People of every clinic (finance, auditors, platform admins) narrow the pages to one clinic
    // with the bar's switcher; the choice is kept in a cookie and is only ever a clinic that exists.
    if (session.row.clinic_id === null) {
      const clinics = await clinicNames(db, { clinicId: undefined });
      const asked = typeof req.query.clinic === 'string' ? req.query.clinic : undefined;
      const wanted = asked ?? readCookie(req, clinicChoiceCookie);
      const choice = wanted !== undefined && clinics.has(wanted) ? wanted : undefined;
      if (asked !== undefined) setCookie(res, deps.cookies, CLINIC_CHOICE_COOKIE, choice ?? '', choice ? CLINIC_CHOICE_SECONDS : 0);
      res.locals.clinicChoice = choice;
      staff.clinics = [...clinics].map(([id, name]) => ({ id, name }));
      staff.clinicChoice = choice;
    }
    res.locals.staff = staff;
    // A console request that changes something is held to the same CSRF and Origin rules as the API.
    checkCsrf(req, session.secret, origin(req));
    next();
  });

  router.get('/console', async (req, res) => {
    const row = sessionOf(res);
    const passkeys = await listPasskeys(db, row);
    page(req, res, 200, (language) =>
      renderConsolePage(language, {
        ...(res.locals.staff as StaffPerson),
        email: row.email,
        expiresAt: new Date(Math.min(row.expires_at.getTime(), row.last_seen_at.getTime() + deps.sessions.idleMs)),
        passkeys,
      }),
    );
  });

  return router;
}

/** The pending sign-in a sealed cookie holds; undefined when it cannot be opened or read (tampered, another key, garbage). */
function openPending(secrets: SecretBox, sealed: string): PendingSignIn | undefined {
  try {
    const value = JSON.parse(secrets.open(sealed, SEAL_CONTEXT)) as Partial<PendingSignIn>;
    const fields = [value.state, value.nonce, value.verifier, value.returnTo];
    if (fields.some((field) => typeof field !== 'string') || typeof value.expiresAt !== 'number') return undefined;
    return { ...(value as PendingSignIn), returnTo: safeReturnTo(value.returnTo) };
  } catch {
    return undefined;
  }
}

/** A rate limit that, on a page route, sends the browser to a page instead of answering 429 JSON. */
function rateLimited(limit: express.RequestHandler, onLimited: (req: Request, res: Response) => void): express.RequestHandler {
  return async (req, res, next) => {
    try {
      await new Promise<void>((resolve, reject) => {
        Promise.resolve(limit(req, res, (error?: unknown) => (error ? reject(error) : resolve()))).catch(reject);
      });
    } catch (error) {
      if (error instanceof RateLimitedError) return onLimited(req, res);
      throw error;
    }
    next();
  };
}
