/**
 * Sign-in for tests: the real app served on a port, the real dev identity provider in front of
 * it, and a browser-like walk (a cookie jar, redirects followed by hand) from `/console` through
 * the provider's login page back to a session.
 */
import type { Express } from 'express';
import type { BrowserContext, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { AppDeps } from '../../src/app.js';
import type { PaymentNetwork } from '../../src/chain/paymentNetwork.js';
import { type DevIdentityProvider, type DevPerson, devPeople, startDevIdentityProvider } from '../../src/dev/identityProvider.js';
import { OidcRelyingParty, type OidcSettings } from '../../src/identity/oidc.js';
import type { Db } from '../../src/platform/db.js';
import { createLogger } from '../../src/platform/log.js';
import { buildTestApp, type CapturedLog } from './app.js';
import { serve } from './browser.js';

export const passwordOf = (username: string): string => `pw-${username}-for-tests`;

export interface SignInStack {
  url: string;
  app: Express;
  log: CapturedLog;
  idp: DevIdentityProvider;
  people: DevPerson[];
  /** The provider settings the gateway uses now (the dev provider's, with role claims). */
  settings: OidcSettings;
  /** Points the gateway at another provider, or none. */
  use(relyingParty: OidcRelyingParty | undefined): void;
  close(): Promise<void>;
}

export const CLIENT_ID = 'clinicpay-test';

/** The gateway on a free port with the dev identity provider signing people of `clinicId` in. */
export async function startSignInStack(options: {
  db: Db;
  clinicId: string;
  rpcUrl?: string;
  network?: PaymentNetwork;
  overrides?: Partial<AppDeps>;
  /** The name browsers reach the gateway by; `localhost` for passkeys (WebAuthn refuses IP addresses as relying parties). */
  hostname?: 'localhost' | '127.0.0.1';
}): Promise<SignInStack> {
  let relyingParty: OidcRelyingParty | undefined;
  const { app, log } = await buildTestApp({
    db: options.db,
    ...(options.rpcUrl ? { rpcUrl: options.rpcUrl } : {}),
    ...(options.network ? { network: options.network } : {}),
    overrides: { signIn: { relyingParty: () => relyingParty }, ...options.overrides },
  });
  const served = await serve(app);
  const url = options.hostname === 'localhost' ? served.url.replace('//127.0.0.1:', '//localhost:') : served.url;
  const people = devPeople(options.clinicId, passwordOf);
  const clientSecret = 'test-client-secret-0123456789abcdef';
  const idp = await startDevIdentityProvider({
    port: 0,
    nodeEnv: 'test',
    people,
    client: {
      clientId: CLIENT_ID,
      clientSecret,
      redirectUris: [`${url}/auth/callback`],
      postLogoutRedirectUris: [`${url}/auth/signed-out`],
    },
    cookieKeys: ['test-idp-cookie-key-0123456789'],
    logger: createLogger('silent'),
  });
  const settings: OidcSettings = {
    issuer: idp.issuer,
    clientId: CLIENT_ID,
    clientSecret,
    scopes: 'openid email profile clinicpay',
    roleClaim: 'clinicpay_role',
    clinicClaim: 'clinicpay_clinic_id',
  };
  relyingParty = new OidcRelyingParty(settings);
  return {
    url,
    app,
    log,
    idp,
    people,
    settings,
    use: (next) => {
      relyingParty = next;
    },
    close: async () => {
      await idp.close();
      await served.close();
    },
  };
}

/** Cookies as one browser keeps them for 127.0.0.1 (all ports: cookies ignore ports). */
export class CookieJar {
  readonly cookies = new Map<string, string>();
  /** Every Set-Cookie line seen, for checking attributes. */
  readonly setCookieLines: string[] = [];
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      this.setCookieLines.push(line);
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const gone = attributes.some((attribute) => /^\s*(expires=Thu, 01 Jan 1970|max-age=0\s*$)/i.test(attribute));
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(at + 1).trim());
    }
  }
}

export interface Visit {
  status: number;
  body: string;
  location: URL | undefined;
  headers: Headers;
}

/** One request of a browser that does not follow redirects. */
export async function browse(
  jar: CookieJar,
  url: string | URL,
  init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Visit> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    redirect: 'manual',
    headers: {
      cookie: jar.header(),
      accept: 'text/html',
      ...(init.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...init.headers,
    },
    ...(init.form ? { body: new URLSearchParams(init.form).toString() } : {}),
  });
  jar.store(response);
  const body = await response.text();
  const location = response.headers.get('location');
  return { status: response.status, body, location: location ? new URL(location, url) : undefined, headers: response.headers };
}

/** Follows redirects by hand (keeping cookies) until an answer that is not one; returns it and the URL it came from. */
export async function follow(jar: CookieJar, url: string | URL, stopAt?: (url: URL) => boolean): Promise<Visit & { url: URL }> {
  let at = new URL(url);
  for (let hop = 0; hop < 12; hop += 1) {
    const visit = await browse(jar, at);
    if (visit.status < 300 || visit.status >= 400 || !visit.location) return { ...visit, url: at };
    at = visit.location;
    if (stopAt?.(at)) return { ...visit, url: at };
  }
  throw new Error(`too many redirects from ${String(url)}`);
}

/**
 * Signs `username` in from `/console` the way a browser does; returns the jar (with the session
 * cookie) and where the gateway sent the browser at the end. Stops at the callback when
 * `stopAtCallback` (to tamper with it).
 */
export async function signInAs(stack: SignInStack, username: string, options: { jar?: CookieJar; password?: string } = {}) {
  const jar = options.jar ?? new CookieJar();
  const loginPage = await follow(jar, `${stack.url}/auth/login?return_to=%2Fconsole`);
  expect(loginPage.status, loginPage.body.slice(0, 300)).toBe(200);
  expect(loginPage.url.origin).toBe(new URL(stack.idp.issuer).origin);
  const submitted = await browse(jar, new URL(`${loginPage.url.pathname}/login`, loginPage.url), {
    method: 'POST',
    form: { username, password: options.password ?? passwordOf(username) },
  });
  if (!submitted.location) return { jar, landed: undefined, submitted };
  // Through the provider's resume to the gateway's callback, and from there to the console.
  const callback = await follow(jar, submitted.location, (url) => url.pathname === '/auth/callback');
  const landed = await browse(jar, callback.url);
  return { jar, landed, submitted, callbackUrl: callback.url };
}

/** The session's CSRF token, as the console's pages get it. */
export async function csrfOf(stack: SignInStack, jar: CookieJar): Promise<string> {
  const session = await browse(jar, `${stack.url}/auth/session`, { headers: { accept: 'application/json' } });
  expect(session.status).toBe(200);
  return (JSON.parse(session.body) as { csrf_token: string }).csrf_token;
}

/** Signs `username` in with a browser: `start` sends it to sign in, the provider's login page, and back to `start`. */
export async function signInWithBrowser(stack: SignInStack, context: BrowserContext, username: string, start = '/console'): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${stack.url}${start}`);
  await page.click('#sign-in');
  const person = stack.people.find((candidate) => candidate.username === username)!;
  await page.fill('input[name="username"]', person.username);
  await page.fill('input[name="password"]', person.password);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${stack.url}${start}`);
  return page;
}

/**
 * A virtual platform authenticator with user verification for `page` (as a phone or laptop has),
 * and a passkey registered with it on `/console`; the page is left there.
 */
export async function addVirtualPasskey(stack: SignInStack, context: BrowserContext, page: Page): Promise<void> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  if (new URL(page.url()).pathname !== '/console') await page.goto(`${stack.url}/console`);
  await page.click('#add-passkey');
  await page.waitForSelector('#passkey-list li');
}
