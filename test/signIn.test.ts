/**
 * People sign in, from the outside: the real gateway on a port, the real dev identity provider
 * (oidc-provider) in front of it, and browser-like requests with a cookie jar. Sign-in through
 * the provider's login page back to `/console`; the session cookie's flags; the session on the
 * API, with CSRF and Origin checks on everything that changes something; one principal and one
 * audit trail for sessions and tokens; idle and absolute expiry; sign-out here and at the
 * provider, refused next request on every instance; memberships for providers without role
 * claims; a provider that is down; forged callbacks; step-up required for approvals.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcRelyingParty } from '../src/identity/oidc.js';
import { bearer, buildTestApp, onboardClinic, TEST_SECRETS, tokenFor } from './support/app.js';
import { serve } from './support/browser.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';
import { browse, CookieJar, csrfOf, follow, passwordOf, type SignInStack, signInAs, startSignInStack } from './support/signIn.js';

let database: TestDatabase;
let stack: SignInStack;
let clinicId: string;
const platformAdmin = tokenFor('platform_admin');
const SESSION = '__Host-clinicpay_session';

beforeAll(async () => {
  database = await createTestDatabase();
  const { app } = await buildTestApp({ db: database.db });
  clinicId = await onboardClinic(app, 'Sign-in Clinic', `0x${'ab'.repeat(20)}`);
  stack = await startSignInStack({ db: database.db, clinicId });
});

afterAll(async () => {
  await stack?.close();
  await database?.close();
});

const invoiceBody = { patient_ref: 'PAT-SESSION', currency: 'HKD', line_items: [{ description: 'Consultation', quantity: 1, unit_amount: '300.00' }] };

/** A JSON request with the session's cookie, as the console's script makes it. */
function api(jar: CookieJar, method: string, path: string, options: { csrf?: string; origin?: string | null; body?: unknown } = {}) {
  return fetch(`${stack.url}${path}`, {
    method,
    headers: {
      cookie: jar.header(),
      'content-type': 'application/json',
      'idempotency-key': randomUUID(),
      ...(options.origin === null ? {} : { origin: options.origin ?? stack.url }),
      ...(options.csrf ? { 'x-csrf-token': options.csrf } : {}),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
}

async function invoiceCount(): Promise<number> {
  return Number(((await database.db('invoices').count('* as n').first()) as { n: string }).n);
}

describe('signing in', () => {
  it('sends an unauthenticated /console to the sign-in page, which offers the provider in three languages', async () => {
    const jar = new CookieJar();
    const consolePage = await browse(jar, `${stack.url}/console`);
    expect(consolePage.status).toBe(303);
    expect(consolePage.location?.pathname).toBe('/auth/sign-in');
    expect(consolePage.location?.searchParams.get('return_to')).toBe('/console');

    const english = await browse(jar, consolePage.location!);
    expect(english.status).toBe(200);
    expect(english.body).toContain('Sign in to ClinicPay');
    expect(english.body).toContain('href="/auth/login?return_to=%2Fconsole&amp;lang=en"');
    expect(english.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(english.headers.get('cache-control')).toBe('no-store');
    const traditional = await browse(jar, `${stack.url}/auth/sign-in`, { headers: { 'accept-language': 'zh-HK,zh;q=0.9' } });
    expect(traditional.body).toContain('登入 ClinicPay');
    const simplified = await browse(jar, `${stack.url}/auth/sign-in?lang=zh-CN`);
    expect(simplified.body).toContain('登录 ClinicPay');
  });

  it('signs the front desk in through the provider and lands on /console with a __Host- session cookie that is HttpOnly, Secure and SameSite=Lax', async () => {
    const { jar, landed } = await signInAs(stack, 'frontdesk');
    expect(landed?.status).toBe(303);
    expect(landed?.location?.pathname).toBe('/console');
    const line = jar.setCookieLines.find((cookie) => cookie.startsWith(`${SESSION}=`) && !/Max-Age=0/.test(cookie))!;
    expect(line).toMatch(/; Path=\//);
    expect(line).toMatch(/; HttpOnly/);
    expect(line).toMatch(/; SameSite=Lax/);
    expect(line).toMatch(/; Secure/);
    expect(line).toMatch(/; Max-Age=43200/);
    expect(line).not.toMatch(/Domain=/i);

    const consolePage = await browse(jar, `${stack.url}/console`);
    expect(consolePage.status).toBe(200);
    expect(consolePage.body).toContain('data-role="clinic_staff"');
    expect(consolePage.body).toContain('Dev Front Desk');
    expect(consolePage.body).toContain(clinicId);

    // The database keeps the secret's hash, never the cookie itself; the sign-in is audited.
    const secret = jar.cookies.get(SESSION)!;
    const session = await database.db('sessions').where({ sub: 'dev-frontdesk' }).orderBy('created_at', 'desc').first();
    expect(session).toMatchObject({ role: 'clinic_staff', clinic_id: clinicId, issuer: stack.idp.issuer, ended_at: null });
    expect(session.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    const plain = await database.owner.raw(`SELECT count(*)::int AS n FROM sessions s WHERE s::text LIKE ?`, [`%${secret}%`]);
    expect((plain as { rows: { n: number }[] }).rows[0]!.n).toBe(0);
    const audit = await (await audited(database.db))('audit_log').where({ action: 'session.started', target_id: session.id }).first();
    expect(audit).toMatchObject({ actor: 'dev-frontdesk', role: 'clinic_staff', clinic_id: clinicId, auth: { method: 'session' } });
  });

  it('gives each sign-in a new session and ends the one the browser had (rotation)', async () => {
    const first = (await signInAs(stack, 'frontdesk')).jar.cookies.get(SESSION)!;
    // The same browser signing in again (a fresh jar for the provider, which would otherwise skip its login page).
    const jar = new CookieJar();
    jar.cookies.set(SESSION, first);
    await signInAs(stack, 'frontdesk', { jar });
    const second = jar.cookies.get(SESSION)!;
    expect(second).not.toBe(first);
    const old = new CookieJar();
    old.cookies.set(SESSION, first);
    expect((await api(old, 'GET', '/v1/invoices', { origin: null })).status).toBe(401);
    expect((await api(jar, 'GET', '/v1/invoices', { origin: null })).status).toBe(200);
  });
});

describe('a session on the API', () => {
  it('is the same principal as a token: the front desk bills with its cookie and CSRF token, and the audit row names the person and how they signed in', async () => {
    const { jar } = await signInAs(stack, 'frontdesk');
    const csrf = await csrfOf(stack, jar);
    const created = await api(jar, 'POST', '/v1/invoices', { csrf, body: invoiceBody });
    expect(created.status).toBe(201);
    const invoice = (await created.json()) as { id: string; clinic_id: string };
    expect(invoice.clinic_id).toBe(clinicId);
    const audit = await (await audited(database.db))('audit_log').where({ action: 'invoice.created', target_id: invoice.id }).first();
    expect(audit).toMatchObject({ actor: 'dev-frontdesk', role: 'clinic_staff', auth: { method: 'session' } });

    // The same rules as a token of the role: the front desk does not reconcile.
    expect((await api(jar, 'GET', '/v1/exceptions', { origin: null })).status).toBe(403);
  });

  it('refuses a state-changing request without the CSRF token, with another session’s token, or from another origin, and changes nothing', async () => {
    const { jar } = await signInAs(stack, 'frontdesk');
    const { jar: other } = await signInAs(stack, 'clinicadmin');
    const csrf = await csrfOf(stack, jar);
    const before = await invoiceCount();
    const refusals = [
      await api(jar, 'POST', '/v1/invoices', { body: invoiceBody }),
      await api(jar, 'POST', '/v1/invoices', { csrf: await csrfOf(stack, other), body: invoiceBody }),
      await api(jar, 'POST', '/v1/invoices', { csrf, origin: 'https://evil.example', body: invoiceBody }),
      await api(jar, 'POST', '/v1/invoices', { csrf, origin: null, body: invoiceBody }),
    ];
    for (const refused of refusals) {
      expect(refused.status).toBe(403);
      expect(refused.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(((await refused.json()) as { code: string }).code).toBe('csrf_failed');
    }
    expect(await invoiceCount()).toBe(before);
  });

  it('refuses a tampered or unknown session cookie with 401 session_expired, and /console sends it to sign in', async () => {
    const { jar } = await signInAs(stack, 'frontdesk');
    const secret = jar.cookies.get(SESSION)!;
    const tampered = new CookieJar();
    tampered.cookies.set(SESSION, `${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`);
    const refused = await api(tampered, 'GET', '/v1/invoices', { origin: null });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe('session_expired');
    expect((await browse(tampered, `${stack.url}/console`)).location?.pathname).toBe('/auth/sign-in');
  });

  it('ends a session idle longer than the idle timeout, and one past its absolute lifetime', async () => {
    const idle = (await signInAs(stack, 'frontdesk')).jar;
    const old = (await signInAs(stack, 'auditor')).jar;
    const [idleRow, oldRow] = await Promise.all(
      [idle, old].map(
        async (jar) =>
          (await database
            .db('sessions')
            .orderBy('created_at', 'desc')
            .where({ sub: jar === idle ? 'dev-frontdesk' : 'dev-auditor' })
            .first()) as { id: string },
      ),
    );
    await database
      .owner('sessions')
      .where({ id: idleRow!.id })
      .update({ last_seen_at: database.owner.raw(`now() - interval '31 minutes'`) });
    await database
      .owner('sessions')
      .where({ id: oldRow!.id })
      .update({ expires_at: database.owner.raw(`now() - interval '1 second'`) });
    expect((await api(idle, 'GET', '/v1/invoices', { origin: null })).status).toBe(401);
    expect((await api(old, 'GET', '/v1/exceptions', { origin: null })).status).toBe(401);
    expect(await database.db('sessions').where({ id: idleRow!.id }).first('ended_reason')).toEqual({ ended_reason: 'idle' });
    expect(await database.db('sessions').where({ id: oldRow!.id }).first('ended_reason')).toEqual({ ended_reason: 'expired' });
  });
});

describe('revoking a person', () => {
  it('ends the sessions of a subject whose tokens a platform admin revokes', async () => {
    const { jar } = await signInAs(stack, 'auditor');
    expect((await api(jar, 'GET', '/v1/exceptions', { origin: null })).status).toBe(200);
    const revoked = await request(stack.app)
      .post('/v1/token-revocations')
      .set(bearer(platformAdmin))
      .set('Idempotency-Key', randomUUID())
      .send({ sub: 'dev-auditor', reason: 'left the firm' });
    expect(revoked.status, revoked.text).toBe(201);
    expect((await api(jar, 'GET', '/v1/exceptions', { origin: null })).status).toBe(401);
    expect((await browse(jar, `${stack.url}/console`)).location?.pathname).toBe('/auth/sign-in');
    // A new sign-in after the revocation is a new session, and works.
    const again = (await signInAs(stack, 'auditor', { jar: new CookieJar() })).jar;
    expect((await api(again, 'GET', '/v1/exceptions', { origin: null })).status).toBe(200);
  });
});

describe('signing out', () => {
  it('needs the CSRF token, ends the session here (refused next request on another instance too) and sends the browser to the provider’s logout', async () => {
    const { jar } = await signInAs(stack, 'clinicadmin');
    const secret = jar.cookies.get(SESSION)!;
    const csrf = await csrfOf(stack, jar);

    const forged = await browse(jar, `${stack.url}/auth/sign-out`, { method: 'POST', form: { _csrf: 'x'.repeat(43) }, headers: { origin: stack.url } });
    expect(forged.status).toBe(403);
    const crossSite = await browse(jar, `${stack.url}/auth/sign-out`, { method: 'POST', form: { _csrf: csrf }, headers: { origin: 'https://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect((await api(jar, 'GET', '/v1/invoices', { origin: null })).status).toBe(200);

    const out = await browse(jar, `${stack.url}/auth/sign-out`, { method: 'POST', form: { _csrf: csrf }, headers: { origin: stack.url } });
    expect(out.status).toBe(303);
    expect(out.location?.origin).toBe(new URL(stack.idp.issuer).origin);
    expect(out.location?.searchParams.get('post_logout_redirect_uri')).toBe(`${stack.url}/auth/signed-out`);
    expect(out.location?.searchParams.get('id_token_hint')).toBeTruthy();
    expect(jar.cookies.has(SESSION)).toBe(false);

    // At the provider: its logout page leads back to the signed-out page.
    const providerLogout = await follow(jar, out.location!);
    expect(providerLogout.status).toBe(200);
    expect(providerLogout.body).toMatch(/Sign out/);

    const replayed = new CookieJar();
    replayed.cookies.set(SESSION, secret);
    const { app: otherInstance } = await buildTestApp({ db: database.db });
    const again = await request(otherInstance).get('/v1/invoices').set('Cookie', `${SESSION}=${secret}`);
    expect(again.status).toBe(401);
    expect(again.body.code).toBe('session_expired');
    expect(
      (await (await audited(database.db))('audit_log').where({ action: 'session.ended', actor: 'dev-clinic-admin' }).orderBy('seq', 'desc').first())?.after,
    ).toEqual({
      reason: 'signed_out',
    });
    const signedOut = await browse(new CookieJar(), `${stack.url}/auth/signed-out?lang=zh-HK`);
    expect(signedOut.body).toContain('你已登出');
  });
});

describe('callbacks that are not ours', () => {
  it('refuses a callback with a wrong state, without the browser’s sign-in cookie, or with a tampered one, and starts no session', async () => {
    const sessionsBefore = Number(((await database.db('sessions').count('* as n').first()) as { n: string }).n);
    // A real code for a real sign-in, with its state swapped.
    const jar = new CookieJar();
    const loginPage = await follow(jar, `${stack.url}/auth/login`);
    const submitted = await browse(jar, new URL(`${loginPage.url.pathname}/login`, loginPage.url), {
      method: 'POST',
      form: { username: 'finance1', password: `pw-finance1-for-tests` },
    });
    const callback = await follow(jar, submitted.location!, (url) => url.pathname === '/auth/callback');
    const wrongState = new URL(callback.url);
    wrongState.searchParams.set('state', 'not-the-state');
    const refused = await browse(jar, wrongState);
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('data-notice="failed"');

    // The sign-in cookie is gone after a callback: the real callback now fails too.
    expect((await browse(jar, callback.url)).status).toBe(400);
    const tampered = new CookieJar();
    tampered.cookies.set('__Host-clinicpay_sign_in', 'v1.test.AAAA');
    expect((await browse(tampered, callback.url)).status).toBe(400);
    expect(Number(((await database.db('sessions').count('* as n').first()) as { n: string }).n)).toBe(sessionsBefore);
    expect(stack.log.text).not.toContain(callback.url.searchParams.get('code')!);
  });

  it('sends a return address elsewhere to the console instead', async () => {
    const jar = new CookieJar();
    const started = await browse(jar, `${stack.url}/auth/login?return_to=${encodeURIComponent('//evil.example/x')}`);
    expect(started.status).toBe(303);
    const { landed } = await signInAs(stack, 'auditor', { jar });
    expect(landed?.location?.toString()).toBe(`${stack.url}/console`);
  });
});

describe('memberships', () => {
  it('lets a provider without role claims sign in only people a platform admin invited; the invitation becomes theirs on first sign-in; revoking it ends their sessions', async () => {
    stack.use(new OidcRelyingParty({ ...stack.settings, roleClaim: undefined, clinicClaim: undefined }));
    try {
      const refused = await signInAs(stack, 'finance2');
      expect(refused.landed?.status).toBe(403);
      expect(refused.landed?.body).toContain('data-notice="no_access"');

      const invited = await request(stack.app)
        .post('/v1/memberships')
        .set(bearer(platformAdmin))
        .set('Idempotency-Key', randomUUID())
        .send({ email: 'Finance2@Clinic.example', role: 'auditor', clinic_id: clinicId });
      expect(invited.status, invited.text).toBe(201);
      expect(invited.body).toMatchObject({ email: 'finance2@clinic.example', role: 'auditor', clinic_id: clinicId, sub: null });

      const { jar, landed } = await signInAs(stack, 'finance2');
      expect(landed?.location?.pathname).toBe('/console');
      const session = (await (await api(jar, 'GET', '/auth/session', { origin: null })).json()) as { role: string; clinic_id: string; sub: string };
      // The membership's role, not the provider's: it gives no role here.
      expect(session).toMatchObject({ role: 'auditor', clinic_id: clinicId, sub: 'dev-finance-2' });
      const listed = await request(stack.app).get('/v1/memberships').set(bearer(platformAdmin));
      expect(listed.body.data[0]).toMatchObject({ id: invited.body.id, sub: 'dev-finance-2' });

      const revoked = await request(stack.app)
        .delete(`/v1/memberships/${invited.body.id as string}`)
        .set(bearer(platformAdmin));
      expect(revoked.status).toBe(200);
      expect((await api(jar, 'GET', '/v1/exceptions', { origin: null })).status).toBe(401);
      expect((await signInAs(stack, 'finance2')).landed?.status).toBe(403);
    } finally {
      stack.use(new OidcRelyingParty(stack.settings));
    }
  });

  it('refuses a clinic admin inviting a platform admin or someone of another clinic', async () => {
    const clinicAdmin = tokenFor('clinic_admin', clinicId);
    const platform = await request(stack.app)
      .post('/v1/memberships')
      .set(bearer(clinicAdmin))
      .set('Idempotency-Key', randomUUID())
      .send({ email: 'boss@clinic.example', role: 'platform_admin' });
    expect(platform.status).toBe(403);
    const other = await request(stack.app)
      .post('/v1/memberships')
      .set(bearer(clinicAdmin))
      .set('Idempotency-Key', randomUUID())
      .send({ email: 'nurse@clinic.example', role: 'clinic_staff', clinic_id: `clin_${'0'.repeat(24)}` });
    expect(other.status).toBe(404);
    expect(await database.db('memberships').whereIn('email', ['boss@clinic.example', 'nurse@clinic.example']).first()).toBeUndefined();
  });
});

describe('the identity provider down', () => {
  it('makes the sign-in page say so, while sessions already signed in keep working', async () => {
    const { jar } = await signInAs(stack, 'frontdesk');
    stack.use(new OidcRelyingParty({ ...stack.settings, issuer: 'http://127.0.0.1:9' }));
    try {
      const signInPage = await browse(new CookieJar(), `${stack.url}/auth/sign-in`);
      expect(signInPage.status).toBe(503);
      expect(signInPage.body).toContain('data-notice="unavailable"');
      const started = await browse(new CookieJar(), `${stack.url}/auth/login`);
      expect(started.location?.searchParams.get('error')).toBe('unavailable');
      expect((await api(jar, 'GET', '/v1/invoices', { origin: null })).status).toBe(200);
    } finally {
      stack.use(new OidcRelyingParty(stack.settings));
    }
  });
});

describe('step-up for actions that move money or hand out access', () => {
  it('refuses a signed-in admin creating an API key or rotating the webhook secret without a passkey confirmation', async () => {
    const { jar } = await signInAs(stack, 'clinicadmin');
    const csrf = await csrfOf(stack, jar);
    const key = await api(jar, 'POST', '/v1/api-keys', { csrf, body: { name: 'PMS', role: 'clinic_staff' } });
    expect(key.status).toBe(403);
    expect(((await key.json()) as { code: string }).code).toBe('step_up_required');
    const rotate = await api(jar, 'POST', `/v1/clinics/${clinicId}/webhook-secret`, { csrf, body: {} });
    expect(rotate.status).toBe(403);
    expect(await database.db('api_keys').where({ clinic_id: clinicId }).first()).toBeUndefined();
  });

  it('lets a token do it only where the operator allows, and says so in the audit row', async () => {
    const clinicAdmin = tokenFor('clinic_admin', clinicId);
    const { app: strict } = await buildTestApp({ db: database.db, overrides: { allowTokenApprovals: false } });
    const refused = await request(strict)
      .post('/v1/api-keys')
      .set(bearer(clinicAdmin))
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'PMS', role: 'clinic_staff' });
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('step_up_required');

    const allowed = await request(stack.app)
      .post('/v1/api-keys')
      .set(bearer(clinicAdmin))
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'PMS', role: 'clinic_staff' });
    expect(allowed.status).toBe(201);
    const audit = await (await audited(database.db))('audit_log').where({ action: 'api_key.created', target_id: allowed.body.id }).first();
    expect(audit.auth).toEqual({ method: 'jwt', step_up: 'allowed_for_tokens' });
  });

  it('refuses passkey options and step-up without a session, and a step-up with no passkey registered', async () => {
    const anonymous = await api(new CookieJar(), 'POST', '/auth/step-up/options', { body: {} });
    expect(anonymous.status).toBe(401);
    const { jar } = await signInAs(stack, 'finance1');
    const csrf = await csrfOf(stack, jar);
    const none = await api(jar, 'POST', '/auth/step-up/options', { csrf, body: {} });
    expect(none.status).toBe(400);
    expect(((await none.json()) as { code: string }).code).toBe('passkey_failed');
    const bogus = await api(jar, 'POST', '/auth/step-up', { csrf, body: { response: { id: 'nope', rawId: 'nope', type: 'public-key', response: {} } } });
    expect(bogus.status).toBe(400);
  });
});

describe('callbacks checked by the relying party', () => {
  it('refuses a callback whose pending sign-in names another nonce, and a code exchanged for another client', async () => {
    const sessionsBefore = Number(((await database.db('sessions').count('* as n').first()) as { n: string }).n);
    const started = async () => {
      const jar = new CookieJar();
      const loginPage = await follow(jar, `${stack.url}/auth/login`);
      const submitted = await browse(jar, new URL(`${loginPage.url.pathname}/login`, loginPage.url), {
        method: 'POST',
        form: { username: 'auditor', password: passwordOf('auditor') },
      });
      const callback = await follow(jar, submitted.location!, (url) => url.pathname === '/auth/callback');
      return { jar, callback: callback.url };
    };

    // The browser's sealed sign-in state, opened with the gateway's key and given another nonce: the ID token's nonce no longer matches.
    const nonce = await started();
    const sealed = nonce.jar.cookies.get('__Host-clinicpay_sign_in')!;
    const pending = JSON.parse(TEST_SECRETS.open(sealed, 'clinicpay.sign-in')) as Record<string, unknown>;
    nonce.jar.cookies.set('__Host-clinicpay_sign_in', TEST_SECRETS.seal(JSON.stringify({ ...pending, nonce: 'another-nonce' }), 'clinicpay.sign-in'));
    const wrongNonce = await browse(nonce.jar, nonce.callback);
    expect(wrongNonce.status).toBe(400);
    expect(wrongNonce.body).toContain('data-notice="failed"');

    // A code the provider issued to this client, brought to a gateway configured as another client (another audience).
    const other = await started();
    stack.use(new OidcRelyingParty({ ...stack.settings, clientId: 'another-client' }));
    try {
      expect((await browse(other.jar, other.callback)).status).toBe(400);
    } finally {
      stack.use(new OidcRelyingParty(stack.settings));
    }
    expect(Number(((await database.db('sessions').count('* as n').first()) as { n: string }).n)).toBe(sessionsBefore);
  });
});

describe('brute force', () => {
  it('limits sign-in starts per address, and failed passkey confirmations per person, on every instance', async () => {
    const limits = { publicPerMinute: 0, expensivePerMinute: 0, anchorsPerHour: 0, failedAuthPerMinute: 0, signInPerMinute: 3 };
    const { app } = await buildTestApp({
      db: database.db,
      overrides: { rateLimits: limits, trustProxy: 1, signIn: { relyingParty: () => new OidcRelyingParty(stack.settings) } },
    });
    const served = await serve(app);
    try {
      await database.db('rate_limits').del();
      const starts: (string | null | undefined)[] = [];
      for (let i = 0; i < 3; i += 1) starts.push((await browse(new CookieJar(), `${served.url}/auth/login`)).location?.origin);
      expect(starts).toEqual(Array(3).fill(new URL(stack.idp.issuer).origin));
      const limited = await browse(new CookieJar(), `${served.url}/auth/login`);
      expect(limited.location?.searchParams.get('error')).toBe('too_many');

      // A person's session (from the main instance) failing step-ups on this instance, from a new
      // address each time (through a trusted proxy): the person's fourth failure in a minute is refused before it is checked.
      await database.db('rate_limits').del();
      const { jar } = await signInAs(stack, 'finance1');
      const session = JSON.parse((await browse(jar, `${stack.url}/auth/session`, { headers: { accept: 'application/json' } })).body) as { csrf_token: string };
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        const response = await fetch(`${served.url}/auth/step-up`, {
          method: 'POST',
          headers: {
            cookie: jar.header(),
            origin: served.url,
            'content-type': 'application/json',
            'x-csrf-token': session.csrf_token,
            'x-forwarded-for': `198.51.100.${i + 1}`,
          },
          body: JSON.stringify({ response: { id: 'guess', rawId: 'guess', type: 'public-key', response: {} } }),
        });
        statuses.push(response.status);
      }
      expect(statuses).toEqual([400, 400, 400, 429]);
    } finally {
      await served.close();
    }
  });
});
