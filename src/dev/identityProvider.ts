/**
 * The embedded development OpenID Connect identity provider: what `npm start` signs people in
 * with when no production identity provider is configured. It is the npm `oidc-provider` on a
 * loopback HTTP port, with one confidential client (authorization code flow, PKCE required),
 * a login page of its own for the dev people (never devInteractions, which take any password),
 * consent granted without asking, and RP-initiated logout. Everything lives in memory: a
 * restart forgets every session, and the signing key is new at each start.
 *
 * Never used in production: `startDevIdentityProvider` refuses to start there.
 */
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
// oidc-provider ships no type declarations (nor do we install any): the parts used here are typed below.
// @ts-expect-error TS7016: untyped module.
import * as oidcProvider from 'oidc-provider';
// The library's own in-memory adapter, given explicitly: one store per provider (the default is
// shared by every provider in the process) and no warning that it is for development only.
// @ts-expect-error TS7016: untyped module.
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { escapeHtml } from '../platform/html.js';
import { errorSummary, type Logger } from '../platform/log.js';

export interface DevPerson {
  role: 'platform_admin' | 'clinic_admin' | 'clinic_staff' | 'finance' | 'auditor';
  /** null for unconfined roles. */
  clinic_id: string | null;
  /** Stable subject, e.g. 'dev-finance-1'. */
  sub: string;
  /** What is typed on the login page, e.g. 'finance1'. */
  username: string;
  password: string;
  email: string;
  name: string;
}

export interface DevClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris: string[];
}

export interface DevIdentityProvider {
  /** `http://<host>:<port>`, without a trailing slash. */
  issuer: string;
  /** Stops accepting connections and resolves once the server has closed. */
  close(): Promise<void>;
}

export interface StartDevIdentityProviderParameters {
  /** Default '127.0.0.1'. */
  host?: string;
  /** 0 (the default) picks any free port. */
  port?: number;
  nodeEnv: string;
  people: DevPerson[];
  client: DevClient;
  /** Keys that sign the provider's cookies, newest first; at least one. */
  cookieKeys: string[];
  logger: Logger;
}

/** The scopes the client may ask for; `clinicpay` carries the role and the clinic. */
export const DEV_SCOPES = ['openid', 'email', 'profile', 'clinicpay'] as const;

/** Failed sign-ins allowed per username and per client address within the window. */
export const LOGIN_ATTEMPT_LIMITS = { perUsername: 5, perAddress: 20, windowSeconds: 300 } as const;

const TTL_SECONDS = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  IdToken: 3600,
  Interaction: 1800,
  Session: 12 * 3600,
  Grant: 12 * 3600,
} as const;

/** Bounds on what the login form accepts. */
const MAX_FORM_BYTES = 8 * 1024;
const MAX_USERNAME_LENGTH = 128;
/** How long `close()` lets requests in flight finish before it drops their connections. */
const CLOSE_GRACE_MS = 2000;

const WRONG_CREDENTIALS = 'Wrong username or password.';
const TOO_MANY_ATTEMPTS = 'Too many attempts; try again later.';

/**
 * The dev stack's people: one per role plus a second finance user. The clinic roles belong to
 * `clinicId`; the platform admin, finance and the auditor work across clinics, like the dev
 * stack's tokens (finance runs reconciliation, which spans every clinic).
 *
 * @example devPeople(demoClinicId, (username) => passwords[username])
 */
export function devPeople(clinicId: string, passwordOf: (username: string) => string): DevPerson[] {
  const person = (role: DevPerson['role'], username: string, sub: string, name: string, clinic: string | null): DevPerson => ({
    role,
    clinic_id: clinic,
    sub,
    username,
    password: passwordOf(username),
    email: `${username}@clinic.example`,
    name,
  });
  return [
    person('platform_admin', 'admin', 'dev-admin', 'Dev Platform Admin', null),
    // A second platform admin: a clinic's settlement-address change is approved by someone other than its proposer.
    person('platform_admin', 'admin2', 'dev-admin-2', 'Dev Platform Admin Two', null),
    person('clinic_admin', 'clinicadmin', 'dev-clinic-admin', 'Dev Clinic Admin', clinicId),
    person('clinic_staff', 'frontdesk', 'dev-frontdesk', 'Dev Front Desk', clinicId),
    person('finance', 'finance1', 'dev-finance-1', 'Dev Finance One', null),
    person('finance', 'finance2', 'dev-finance-2', 'Dev Finance Two', null),
    person('auditor', 'auditor', 'dev-auditor', 'Dev Auditor', null),
  ];
}

/** The claims of a person, before oidc-provider keeps those the granted scopes allow. */
export function devPersonClaims(person: DevPerson): Record<string, string | boolean> {
  return {
    sub: person.sub,
    email: person.email,
    email_verified: true,
    name: person.name,
    preferred_username: person.username,
    clinicpay_role: person.role,
    ...(person.clinic_id === null ? {} : { clinicpay_clinic_id: person.clinic_id }),
  };
}

// ---- The parts of oidc-provider used here (it ships no types). ----

interface OidcGrant {
  jti?: string;
  accountId: string;
  clientId: string;
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  save(): Promise<string>;
}

interface OidcGrantClass {
  new (init: { accountId: string; clientId: string }): OidcGrant;
  find(id: string): Promise<OidcGrant | undefined>;
}

/** The Koa context oidc-provider hands to its hooks. */
interface OidcContext {
  path: string;
  status: number;
  type: string;
  body: unknown;
  set(field: string, value: string): void;
  oidc: {
    client?: { clientId: string };
    account?: { accountId: string };
    session: { grantIdFor(clientId: string): string | undefined };
    result?: { consent?: { grantId?: string } };
    requestParamOIDCScopes: Set<string>;
    requestParamClaims: Set<string>;
    provider: OidcProvider;
  };
}

interface OidcInteraction {
  uid: string;
  prompt: { name: string; details: { missingOIDCScope?: string[]; missingOIDCClaims?: string[] } };
  params: { client_id?: string };
  grantId?: string;
  session?: { accountId?: string };
}

type InteractionResult = { login: { accountId: string } } | { consent: { grantId: string } };

interface OidcProvider {
  Grant: OidcGrantClass;
  callback(): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<OidcInteraction>;
  interactionFinished(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    result: InteractionResult,
    options: { mergeWithLastSubmission: boolean },
  ): Promise<void>;
  on(event: 'server_error', listener: (ctx: OidcContext, error: unknown) => void): unknown;
}

interface OidcProviderModule {
  Provider: new (issuer: string, configuration: Record<string, unknown>) => OidcProvider;
  errors: { SessionNotFound: new (...args: never[]) => Error };
}

const { Provider, errors } = oidcProvider as unknown as OidcProviderModule;
const newMemoryAdapter = createMemoryAdapter as (clockTolerance?: number) => unknown;

// ---- Pages. ----

const PAGE_STYLE =
  'body{font-family:system-ui,sans-serif;max-width:22rem;margin:3rem auto;padding:0 1rem}' +
  'label{display:block;margin-top:.75rem}input{width:100%;box-sizing:border-box;padding:.4rem}' +
  'button{margin-top:1rem;padding:.5rem 1rem}.error{color:#a00}';

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style>${PAGE_STYLE}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

/**
 * The CSP of every page here: inline style, no script unless its hash is listed, and forms sent
 * only to the provider. Browsers apply `form-action` to each redirect that follows a submission
 * too, so the origins the provider redirects to after a form (the client's redirect and
 * post-logout URIs) are listed as well.
 */
function contentSecurityPolicy(formTargets: readonly string[], scriptHash?: string): string {
  const script = scriptHash ? `script-src '${scriptHash}'` : "script-src 'none'";
  const formAction = ["'self'", ...formTargets].join(' ');
  return `default-src 'none'; style-src 'unsafe-inline'; ${script}; form-action ${formAction}; base-uri 'none'; frame-ancestors 'none'`;
}

function loginPage(uid: string, message?: string, username = ''): string {
  return page(
    'ClinicPay development sign-in',
    `${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>\n` : ''}<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required autofocus value="${escapeHtml(username)}">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`,
  );
}

/**
 * The logout confirmation: the provider's form (hidden fields, no button), a "Sign out"
 * button that submits it with `logout=yes` (ending the whole session at the provider), and a
 * script that presses the button at once, so a browser signs out without an extra click.
 */
const LOGOUT_SCRIPT = "document.getElementById('sign-out').click();";
const LOGOUT_SCRIPT_HASH = `sha256-${createHash('sha256').update(LOGOUT_SCRIPT).digest('base64')}`;

/** The pages oidc-provider renders through hooks, and how the login pages are sent. */
function pages(formTargets: readonly string[]) {
  return {
    async logoutSource(ctx: OidcContext, form: string): Promise<void> {
      ctx.type = 'html';
      ctx.set('Content-Security-Policy', contentSecurityPolicy(formTargets, LOGOUT_SCRIPT_HASH));
      ctx.body = page(
        'Sign out of ClinicPay',
        `${form}
<p>Signing you out of the ClinicPay development sign-in. If nothing happens, press Sign out.</p>
<button id="sign-out" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>
<script>${LOGOUT_SCRIPT}</script>`,
      );
    },

    async postLogoutSuccessSource(ctx: OidcContext): Promise<void> {
      ctx.type = 'html';
      ctx.set('Content-Security-Policy', contentSecurityPolicy(formTargets));
      ctx.body = page('Signed out', '<p>You are signed out of the ClinicPay development sign-in.</p>');
    },

    async renderError(ctx: OidcContext, out: { error?: string; error_description?: string }): Promise<void> {
      ctx.type = 'html';
      ctx.set('Content-Security-Policy', contentSecurityPolicy(formTargets));
      ctx.body = page('Sign-in error', `<p>${escapeHtml(out.error ?? 'error')}: ${escapeHtml(out.error_description ?? '')}</p>`);
    },

    send(res: http.ServerResponse, status: number, html: string): void {
      res.statusCode = status;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Content-Security-Policy', contentSecurityPolicy(formTargets));
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.end(html);
    },
  };
}

// ---- Passwords and attempts. ----

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Compares digests in constant time, so the time taken says nothing of how much matched. */
function passwordMatches(given: string, expected: string): boolean {
  return timingSafeEqual(sha256(given), sha256(expected));
}

class FormTooLarge extends Error {}

async function readForm(req: http.IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new FormTooLarge('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ---- The provider. ----

/**
 * Starts the dev identity provider on `host:port` and resolves once it accepts connections.
 * Refuses (throws) when `nodeEnv` is 'production'.
 *
 * @example
 * const idp = await startDevIdentityProvider({ nodeEnv, people: devPeople(clinicId, passwordOf), client, cookieKeys, logger });
 * // …discover `${idp.issuer}/.well-known/openid-configuration`…
 * await idp.close();
 */
export async function startDevIdentityProvider(options: StartDevIdentityProviderParameters): Promise<DevIdentityProvider> {
  const { nodeEnv, people, client, cookieKeys, logger } = options;
  if (nodeEnv === 'production') throw new Error('the development identity provider does not run in production; configure a real identity provider');
  if (cookieKeys.length === 0) throw new Error('the development identity provider needs at least one cookie key');
  const byUsername = new Map<string, DevPerson>();
  const bySub = new Map<string, DevPerson>();
  for (const person of people) {
    const username = person.username.toLowerCase();
    if (byUsername.has(username) || bySub.has(person.sub)) throw new Error(`duplicate dev person: ${person.username} (${person.sub})`);
    byUsername.set(username, person);
    bySub.set(person.sub, person);
  }

  const formTargets = [...new Set([...client.redirectUris, ...client.postLogoutRedirectUris].map((uri) => new URL(uri).origin))];
  const { logoutSource, postLogoutSuccessSource, renderError, send } = pages(formTargets);

  const host = options.host ?? '127.0.0.1';
  let handle: http.RequestListener = (_req, res) => send(res, 503, page('Starting', '<p>The sign-in service is starting.</p>'));
  const server = http.createServer((req, res) => handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'ES256', use: 'sig' };

  const provider = new Provider(issuer, {
    adapter: newMemoryAdapter(),
    jwks: { keys: [signingKey] },
    cookies: { keys: cookieKeys },
    clients: [
      {
        client_id: client.clientId,
        client_secret: client.clientSecret,
        redirect_uris: client.redirectUris,
        post_logout_redirect_uris: client.postLogoutRedirectUris,
        response_types: ['code'],
        grant_types: ['authorization_code'],
        // Either way of sending the secret is accepted for client_secret_basic and _post alike.
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    scopes: [...DEV_SCOPES],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      clinicpay: ['clinicpay_role', 'clinicpay_clinic_id'],
    },
    // The relying party reads the person from the ID token alone, not from userinfo.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    interactions: { url: (_ctx: OidcContext, interaction: OidcInteraction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: OidcContext, sub: string) => {
      const person = bySub.get(sub);
      return person ? { accountId: person.sub, claims: () => devPersonClaims(person) } : undefined;
    },
    loadExistingGrant: grantEverythingRequested,
    // The client is a server (confidential): no browser calls the provider across origins.
    clientBasedCORS: () => false,
    renderError,
    ttl: TTL_SECONDS,
  });
  provider.on('server_error', (ctx, error) => {
    logger.warn({ err: errorSummary(error), path: ctx.path }, 'dev identity provider server error');
  });

  const attemptsByUsername = new RateLimiterMemory({ points: LOGIN_ATTEMPT_LIMITS.perUsername, duration: LOGIN_ATTEMPT_LIMITS.windowSeconds });
  const attemptsByAddress = new RateLimiterMemory({ points: LOGIN_ATTEMPT_LIMITS.perAddress, duration: LOGIN_ATTEMPT_LIMITS.windowSeconds });

  async function tooManyAttempts(username: string, address: string): Promise<boolean> {
    const [forUsername, forAddress] = await Promise.all([attemptsByUsername.get(username), attemptsByAddress.get(address)]);
    return (forUsername?.consumedPoints ?? 0) >= LOGIN_ATTEMPT_LIMITS.perUsername || (forAddress?.consumedPoints ?? 0) >= LOGIN_ATTEMPT_LIMITS.perAddress;
  }

  /** The person whose username and password these are; every path compares one digest pair. */
  function authenticate(username: string, password: string): DevPerson | undefined {
    const person = byUsername.get(username);
    const matches = passwordMatches(password, person?.password ?? randomBytes(16).toString('hex'));
    return person && matches ? person : undefined;
  }

  async function login(req: http.IncomingMessage, res: http.ServerResponse, uid: string): Promise<void> {
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.uid !== uid || interaction.prompt.name !== 'login') return send(res, 400, expiredPage());
    if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return send(res, 415, loginPage(uid));
    const form = await readForm(req);
    const typed = (form.get('username') ?? '').trim();
    const username = typed.toLowerCase().slice(0, MAX_USERNAME_LENGTH);
    const address = req.socket.remoteAddress ?? 'unknown';
    if (await tooManyAttempts(username, address)) return send(res, 429, loginPage(uid, TOO_MANY_ATTEMPTS, typed));
    const person = authenticate(username, form.get('password') ?? '');
    if (!person) {
      await Promise.all([attemptsByUsername.penalty(username), attemptsByAddress.penalty(address)]);
      return send(res, 401, loginPage(uid, WRONG_CREDENTIALS, typed));
    }
    await attemptsByUsername.delete(username);
    logger.info({ sub: person.sub, role: person.role }, 'dev identity provider sign-in');
    await provider.interactionFinished(req, res, { login: { accountId: person.sub } }, { mergeWithLastSubmission: false });
  }

  async function showInteraction(req: http.IncomingMessage, res: http.ServerResponse, uid: string): Promise<void> {
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.uid !== uid) return send(res, 400, expiredPage());
    if (interaction.prompt.name === 'login') return send(res, 200, loginPage(uid));
    if (interaction.prompt.name === 'consent') {
      // Reached only when the client asks for it (prompt=consent): granted without asking.
      const grantId = await grantForInteraction(provider, interaction);
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    send(res, 400, page('Sign-in error', '<p>This sign-in step is not supported by the development identity provider.</p>'));
  }

  const providerCallback = provider.callback();
  handle = (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(url.pathname);
    if (!match) {
      void providerCallback(req, res);
      return;
    }
    const [, uid = '', loginPath] = match;
    const expected = loginPath ? 'POST' : 'GET';
    if (req.method !== expected) {
      res.setHeader('Allow', expected);
      return send(res, 405, page('Sign-in error', '<p>Method not allowed.</p>'));
    }
    (loginPath ? login(req, res, uid) : showInteraction(req, res, uid)).catch((error: unknown) => {
      if (res.headersSent) return res.destroy();
      if (error instanceof errors.SessionNotFound) return send(res, 400, expiredPage());
      if (error instanceof FormTooLarge) return send(res, 413, page('Sign-in error', '<p>The form was too large.</p>'));
      logger.warn({ err: errorSummary(error), path: '/interaction/:uid' }, 'dev identity provider interaction failed');
      send(res, 500, page('Sign-in error', '<p>Something went wrong; start again from ClinicPay.</p>'));
    });
  };

  logger.info({ issuer }, 'dev identity provider started');
  return {
    issuer,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
      }),
  };
}

function expiredPage(): string {
  return page('Sign-in expired', '<p>This sign-in has expired or was already used; start again from ClinicPay.</p>');
}

/**
 * `loadExistingGrant`: the grant of this session and client, created when missing, widened to
 * every scope and claim the request asks for, so the consent prompt never has to ask.
 */
async function grantEverythingRequested(ctx: OidcContext): Promise<OidcGrant | undefined> {
  const { oidc } = ctx;
  if (!oidc.client || !oidc.account) return undefined;
  const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  const grant =
    existing && existing.accountId === oidc.account.accountId && existing.clientId === oidc.client.clientId
      ? existing
      : new oidc.provider.Grant({ accountId: oidc.account.accountId, clientId: oidc.client.clientId });
  if (oidc.requestParamOIDCScopes.size > 0) grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  if (oidc.requestParamClaims.size > 0) grant.addOIDCClaims([...oidc.requestParamClaims]);
  await grant.save();
  return grant;
}

/** A grant that covers what a consent prompt says is missing. */
async function grantForInteraction(provider: OidcProvider, interaction: OidcInteraction): Promise<string> {
  const accountId = interaction.session?.accountId;
  const clientId = interaction.params.client_id;
  if (!accountId || !clientId) throw new Error('consent prompt without an account or a client');
  const existing = interaction.grantId ? await provider.Grant.find(interaction.grantId) : undefined;
  const grant = existing ?? new provider.Grant({ accountId, clientId });
  const { missingOIDCScope, missingOIDCClaims } = interaction.prompt.details;
  if (missingOIDCScope?.length) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims?.length) grant.addOIDCClaims(missingOIDCClaims);
  return grant.save();
}
