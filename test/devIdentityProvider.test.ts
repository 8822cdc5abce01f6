/**
 * The embedded dev identity provider, driven over real HTTP by `openid-client` as the gateway
 * would drive it: sign-in through its own login page (authorization code + PKCE), the ID
 * token's claims, refused passwords, attempt limits, and RP-initiated logout.
 */

import { Writable } from 'node:stream';
import {
  allowInsecureRequests,
  authorizationCodeGrant,
  buildAuthorizationUrl,
  buildEndSessionUrl,
  type Configuration,
  calculatePKCECodeChallenge,
  discovery,
  randomNonce,
  randomPKCECodeVerifier,
  randomState,
} from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DevClient, type DevIdentityProvider, devPeople, LOGIN_ATTEMPT_LIMITS, startDevIdentityProvider } from '../src/dev/identityProvider.js';
import { createLogger } from '../src/platform/log.js';
import { browse, CookieJar } from './support/signIn.js';

const CLINIC = 'cli_test';
const passwordOf = (username: string): string => `pw-${username}-correct-horse`;
const CLIENT: DevClient = {
  clientId: 'clinicpay-gateway',
  clientSecret: 'dev-client-secret-0123456789abcdef',
  // Nothing listens here: the walk reads the Location header instead of following it.
  redirectUris: ['http://127.0.0.1:9/auth/callback'],
  postLogoutRedirectUris: ['http://127.0.0.1:9/'],
};

function start(logger = createLogger('silent')): Promise<DevIdentityProvider> {
  return startDevIdentityProvider({
    port: 0,
    nodeEnv: 'test',
    people: devPeople(CLINIC, passwordOf),
    client: CLIENT,
    cookieKeys: ['test-cookie-key-0123456789abcdef'],
    logger,
  });
}

/** What the provider logged, one JSON line each. */
class CapturedLog extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString('utf8');
    done();
  }
}

/** Codes and tokens the walks obtained: none may reach the log. */
const issued: string[] = [];

interface Flow {
  jar: CookieJar;
  verifier: string;
  state: string;
  nonce: string;
  /** The login form's action. */
  loginUrl: URL;
}

/** Authorization request → the interaction's login page; returns where to post the form. */
async function beginSignIn(config: Configuration, jar = new CookieJar()): Promise<Flow> {
  const verifier = randomPKCECodeVerifier();
  const state = randomState();
  const nonce = randomNonce();
  const authorizationUrl = buildAuthorizationUrl(config, {
    redirect_uri: CLIENT.redirectUris[0]!,
    scope: 'openid email profile clinicpay',
    code_challenge: await calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const authorization = await browse(jar, authorizationUrl);
  expect(authorization.status).toBe(303);
  expect(authorization.location?.pathname).toMatch(/^\/interaction\//);
  const interaction = await browse(jar, authorization.location!);
  expect(interaction.status).toBe(200);
  expect(interaction.body).toMatch(/<button type="submit">Sign in<\/button>/);
  const action = /<form method="post" action="([^"]+)"/.exec(interaction.body)?.[1];
  return { jar, verifier, state, nonce, loginUrl: new URL(action!, authorization.location) };
}

/** Posts the login form; on success follows the resume redirect up to the redirect URI. */
async function submitLogin(flow: Flow, username: string, password: string) {
  const posted = await browse(flow.jar, flow.loginUrl, { method: 'POST', form: { username, password } });
  if (posted.status !== 303) return { ...posted, callback: undefined };
  const resumed = await browse(flow.jar, posted.location!);
  expect(resumed.status).toBe(303);
  return { ...posted, callback: resumed.location };
}

/** The whole walk for one person, then the code exchanged for tokens. */
async function signIn(config: Configuration, username: string, jar?: CookieJar) {
  const flow = await beginSignIn(config, jar);
  const { callback } = await submitLogin(flow, username, passwordOf(username));
  expect(callback?.href.startsWith(CLIENT.redirectUris[0]!)).toBe(true);
  expect(callback?.searchParams.get('code')).toBeTruthy();
  const tokens = await authorizationCodeGrant(config, callback!, {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
  });
  issued.push(callback!.searchParams.get('code')!, tokens.access_token, tokens.id_token!);
  return { tokens, claims: tokens.claims()!, jar: flow.jar };
}

function relyingParty(issuer: string): Promise<Configuration> {
  return discovery(new URL(issuer), CLIENT.clientId, CLIENT.clientSecret, undefined, { execute: [allowInsecureRequests] });
}

describe('the dev identity provider', () => {
  const log = new CapturedLog();
  let idp: DevIdentityProvider;
  let config: Configuration;

  beforeAll(async () => {
    idp = await start(createLogger('debug', log));
    config = await relyingParty(idp.issuer);
  });
  afterAll(() => idp?.close());

  it('is discovered at a loopback http issuer with PKCE S256 and an end-session endpoint', () => {
    const metadata = config.serverMetadata();
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(metadata.issuer).toBe(idp.issuer);
    expect(metadata.end_session_endpoint).toBe(`${idp.issuer}/session/end`);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'email', 'profile', 'clinicpay']));
  });

  it('signs in a second finance person with the role in the ID token, across clinics', async () => {
    const { claims } = await signIn(config, 'finance2');
    expect(claims).toMatchObject({
      iss: idp.issuer,
      aud: CLIENT.clientId,
      sub: 'dev-finance-2',
      email: 'finance2@clinic.example',
      email_verified: true,
      name: 'Dev Finance Two',
      clinicpay_role: 'finance',
    });
    expect(claims).not.toHaveProperty('clinicpay_clinic_id');
  });

  it('signs in the front desk as clinic staff of the clinic', async () => {
    const { claims } = await signIn(config, 'frontdesk');
    expect(claims).toMatchObject({ sub: 'dev-frontdesk', email: 'frontdesk@clinic.example', clinicpay_role: 'clinic_staff', clinicpay_clinic_id: CLINIC });
  });

  it('gives the platform admin no clinic claim', async () => {
    const { claims } = await signIn(config, 'admin');
    expect(claims).toMatchObject({ sub: 'dev-admin', clinicpay_role: 'platform_admin' });
    expect(claims).not.toHaveProperty('clinicpay_clinic_id');
  });

  it('refuses a wrong password with 401 and no code, and leaves the sign-in open', async () => {
    const flow = await beginSignIn(config);
    const refused = await submitLogin(flow, 'finance1', 'not-the-password');
    expect(refused.status).toBe(401);
    expect(refused.body).toContain('Wrong username or password.');
    expect(refused.location).toBeUndefined();
    // The same interaction still accepts the right password.
    const accepted = await submitLogin(flow, 'finance1', passwordOf('finance1'));
    expect(accepted.callback?.searchParams.get('code')).toBeTruthy();
  });

  it('escapes what it renders', async () => {
    const flow = await beginSignIn(config);
    const refused = await submitLogin(flow, '<script>alert(1)</script>', 'x');
    expect(refused.body).not.toContain('<script>alert(1)</script>');
    expect(refused.body).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('refuses an authorization request without PKCE', async () => {
    const url = buildAuthorizationUrl(config, { redirect_uri: CLIENT.redirectUris[0]!, scope: 'openid', state: randomState() });
    const response = await browse(new CookieJar(), url);
    expect(response.status).toBe(303);
    expect(response.location?.searchParams.get('error')).toBe('invalid_request');
  });

  it('signs a browser out through RP-initiated logout, as a plain form without scripts', async () => {
    const { tokens, jar } = await signIn(config, 'clinicadmin');
    const endSession = buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: CLIENT.postLogoutRedirectUris[0]!,
      state: 'bye',
    });
    const confirm = await browse(jar, endSession);
    expect(confirm.status).toBe(200);
    expect(confirm.body).toMatch(/<button id="sign-out" type="submit" form="op.logoutForm" name="logout" value="yes">Sign out<\/button>/);
    const action = /<form id="op.logoutForm" method="post" action="([^"]+)"/.exec(confirm.body)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.body)?.[1];
    // What pressing "Sign out" posts.
    const signedOut = await browse(jar, new URL(action!, endSession), { method: 'POST', form: { xsrf: xsrf!, logout: 'yes' } });
    expect(signedOut.status).toBe(303);
    expect(signedOut.location?.href).toBe(`${CLIENT.postLogoutRedirectUris[0]}?state=bye`);
    // The provider's session is gone: the next sign-in asks for the password again.
    await beginSignIn(config, jar);
  });

  it('logs sign-ins by subject, never a password, code or token', () => {
    expect(log.text).toContain('"sub":"dev-finance-2"');
    expect(issued.length).toBeGreaterThan(0);
    for (const secret of [...issued, ...devPeople(CLINIC, passwordOf).map((person) => person.password), 'not-the-password']) {
      expect(log.text).not.toContain(secret);
    }
  });
});

describe('failed sign-in attempts', () => {
  let idp: DevIdentityProvider;
  let config: Configuration;

  beforeAll(async () => {
    idp = await start();
    config = await relyingParty(idp.issuer);
  });
  afterAll(() => idp?.close());

  it('are limited per username: past the limit even the right password gets 429', async () => {
    const flow = await beginSignIn(config);
    for (let attempt = 0; attempt < LOGIN_ATTEMPT_LIMITS.perUsername; attempt += 1) {
      expect((await submitLogin(flow, 'finance1', `guess-${attempt}`)).status).toBe(401);
    }
    const blocked = await submitLogin(flow, 'finance1', passwordOf('finance1'));
    expect(blocked.status).toBe(429);
    expect(blocked.body).toContain('Too many attempts; try again later.');
    expect(blocked.location).toBeUndefined();
  });

  it('are limited per client address, across usernames', async () => {
    const flow = await beginSignIn(config);
    // The test before spent `perUsername` of this address's attempts.
    for (let attempt = LOGIN_ATTEMPT_LIMITS.perUsername; attempt < LOGIN_ATTEMPT_LIMITS.perAddress; attempt += 1) {
      expect((await submitLogin(flow, `nobody${attempt}`, 'guess')).status).toBe(401);
    }
    const blocked = await submitLogin(flow, 'auditor', passwordOf('auditor'));
    expect(blocked.status).toBe(429);
    expect(blocked.body).toContain('Too many attempts; try again later.');
  });
});

describe('startDevIdentityProvider', () => {
  it('refuses to run in production', async () => {
    await expect(
      startDevIdentityProvider({
        nodeEnv: 'production',
        people: devPeople(CLINIC, passwordOf),
        client: CLIENT,
        cookieKeys: ['k'],
        logger: createLogger('silent'),
      }),
    ).rejects.toThrow(/production/);
  });
});
