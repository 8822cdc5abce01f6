/**
 * API tokens: keys from an identity provider's JWKS (served over real HTTP) that rotate without
 * a restart, a maximum token age, and revocation by token id or by subject, in force on every
 * instance (two app instances over one database).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../src/identity/jwt.js';
import { REVOCATION_REFRESH_MS } from '../src/identity/revocations.js';
import { waitFor } from '../src/platform/waitFor.js';
import { bearer, buildTestApp, CapturedLog, TEST_JWT, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.close();
});

/** A JWKS endpoint serving whatever keys the test puts in `keys`, counting its fetches. */
class JwksServer {
  keys: JWK[] = [];
  fetches = 0;
  private readonly server = http.createServer((_req, res) => {
    this.fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
  });
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function signingKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const sign = (claims: Record<string, unknown> = {}) =>
    new SignJWT({ role: 'platform_admin', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(TEST_JWT.issuer)
      .setAudience(TEST_JWT.audience)
      .setSubject('idp-admin')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  return { jwk, sign };
}

describe('keys from a JWKS', () => {
  it("accepts the provider's current key by kid, follows a rotation without a restart, and refuses retired and unknown keys", async () => {
    const jwks = new JwksServer();
    const url = await jwks.start();
    try {
      const [first, second] = [await signingKey('2026-11'), await signingKey('2026-12')];
      jwks.keys = [first.jwk];
      const verifyToken = createJwtVerifier({ jwksUrl: url, ...TEST_JWT, jwksCooldownMs: 0 });
      const { app } = await buildTestApp({ db: database.db, overrides: { verifyToken } });
      const list = (token: string) => request(app).get('/v1/token-revocations').set(bearer(token));

      expect((await list(await first.sign())).status).toBe(200);
      expect(jwks.fetches).toBe(1);
      // The key set is cached: more requests, no more fetches.
      expect((await list(await first.sign())).status).toBe(200);
      expect(jwks.fetches).toBe(1);

      // The provider rotates: a token with the new kid makes the gateway fetch the set again.
      jwks.keys = [second.jwk];
      expect((await list(await second.sign())).status).toBe(200);
      expect(jwks.fetches).toBe(2);
      // The retired key is gone from the set, and a kid nobody published is refused.
      expect((await list(await first.sign())).body.code).toBe('invalid_token');
      const stranger = await signingKey('unknown');
      expect((await list(await stranger.sign())).status).toBe(401);
      // A shared-secret token is never accepted where keys come from a JWKS.
      expect((await list(tokenFor('platform_admin'))).status).toBe(401);
    } finally {
      await jwks.stop();
    }
  });
});

describe('the age of a token', () => {
  it('refuses a token issued more than JWT_MAX_AGE_SECONDS ago, or without iat, whatever its expiry', async () => {
    const { app } = await buildTestApp({ db: database.db });
    const now = Math.floor(Date.now() / 1000);
    const claims = { role: 'platform_admin', sub: 'old-admin', iss: TEST_JWT.issuer, aud: TEST_JWT.audience, exp: now + 30 * 86_400 };
    const old = await request(app)
      .get('/v1/token-revocations')
      .set(bearer(jwt.sign({ ...claims, iat: now - 25 * 3600 }, TEST_JWT.secret)));
    expect(old.status).toBe(401);
    expect(old.body.code).toBe('token_expired');
    const ageless = await request(app)
      .get('/v1/token-revocations')
      .set(bearer(jwt.sign(claims, TEST_JWT.secret, { noTimestamp: true })));
    expect(ageless.status).toBe(401);
    expect(ageless.body.detail).toContain('iat');
    const fresh = await request(app)
      .get('/v1/token-revocations')
      .set(bearer(jwt.sign({ ...claims, iat: now - 23 * 3600 }, TEST_JWT.secret)));
    expect(fresh.status).toBe(200);
  });
});

describe('revoking tokens', () => {
  let first: Express;
  let second: Express;
  const log = new CapturedLog();
  const admin = tokenFor('platform_admin', undefined, 'security-officer');
  const revoke = (app: Express, body: Record<string, unknown>, key: string) =>
    request(app).post('/v1/token-revocations').set(bearer(admin)).set('Idempotency-Key', key).send(body);
  const clinicList = (app: Express, token: string) => request(app).get('/v1/token-revocations').set(bearer(token));

  beforeAll(async () => {
    ({ app: first } = await buildTestApp({ db: database.db, log }));
    ({ app: second } = await buildTestApp({ db: database.db }));
  });

  it('by jti refuses that token at once here and within seconds on every instance; the subject’s other tokens still work', async () => {
    const leaked = tokenFor('platform_admin', undefined, 'ops-1');
    const other = tokenFor('platform_admin', undefined, 'ops-1');
    const { jti } = jwt.decode(leaked) as { jti: string };
    expect((await clinicList(second, leaked)).status).toBe(200);

    const revoked = await revoke(first, { jti, reason: 'pasted into a support chat' }, 'revoke-jti');
    expect(revoked.status).toBe(201);
    expect(revoked.body).toMatchObject({ object: 'token_revocation', kind: 'jti', value: jti, revoked_by: 'security-officer' });

    const refused = await clinicList(first, leaked);
    expect(refused.status).toBe(401);
    expect(refused.body.detail).toBe('The bearer token has been revoked.');
    expect(log.lines.some((line) => line.includes('revoked token refused') && line.includes('ops-1'))).toBe(true);
    const started = Date.now();
    await waitFor(async () => (await clinicList(second, leaked)).status === 401, {
      what: 'the other instance to refuse it',
      timeoutMs: REVOCATION_REFRESH_MS + 3000,
    });
    expect(Date.now() - started).toBeLessThanOrEqual(REVOCATION_REFRESH_MS + 3000);
    expect((await clinicList(first, other)).status).toBe(200);
    expect((await clinicList(second, other)).status).toBe(200);
  });

  it('by sub refuses every token of the subject issued so far, and accepts ones issued afterwards', async () => {
    const before = tokenFor('finance', undefined, 'leaver-7');
    const now = Math.floor(Date.now() / 1000);
    expect((await request(first).get('/v1/ledger/accounts').set(bearer(before))).status).toBe(200);
    expect((await revoke(first, { sub: 'leaver-7', reason: 'left the clinic group' }, 'revoke-sub')).status).toBe(201);
    expect((await request(first).get('/v1/ledger/accounts').set(bearer(before))).status).toBe(401);
    await waitFor(async () => (await request(second).get('/v1/ledger/accounts').set(bearer(before))).status === 401, {
      what: 'the other instance to refuse the subject',
      timeoutMs: REVOCATION_REFRESH_MS + 3000,
    });
    // Issued after the revocation (the identity provider let the person back in): accepted.
    const after = jwt.sign({ role: 'finance', iat: now + 2 }, TEST_JWT.secret, {
      issuer: TEST_JWT.issuer,
      audience: TEST_JWT.audience,
      subject: 'leaver-7',
      expiresIn: 600,
    });
    expect((await request(first).get('/v1/ledger/accounts').set(bearer(after))).status).toBe(200);
  });

  it('is for platform admins only, names one token or one subject with a reason, and is audited', async () => {
    const before = await database.db('token_revocations').count<{ count: string }[]>('* as count');
    const attempts: [string, Record<string, unknown>, number][] = [
      [tokenFor('finance'), { sub: 'x', reason: 'r' }, 403],
      [admin, { jti: 'a', sub: 'b', reason: 'both' }, 400],
      [admin, { reason: 'neither' }, 400],
      [admin, { sub: 'x' }, 400],
      [admin, { sub: '', reason: 'empty' }, 400],
      [admin, { sub: 'x', reason: 'r', role: 'finance' }, 400],
    ];
    for (const [index, [token, body, status]] of attempts.entries()) {
      const response = await request(first).post('/v1/token-revocations').set(bearer(token)).set('Idempotency-Key', `bad-${index}`).send(body);
      expect(response.status, JSON.stringify(body)).toBe(status);
      expect(response.type).toBe('application/problem+json');
    }
    expect(await database.db('token_revocations').count<{ count: string }[]>('* as count')).toEqual(before);
    const listed = await request(first).get('/v1/token-revocations?limit=5').set(bearer(admin));
    expect(listed.body.data.map((row: { kind: string }) => row.kind)).toEqual(['sub', 'jti']);
    const revocations = await (await audited(database.db))('audit_log').where({ action: 'token.revoked' }).orderBy('seq').select('actor', 'after');
    expect(revocations).toEqual([
      { actor: 'security-officer', after: expect.objectContaining({ kind: 'jti', reason: 'pasted into a support chat' }) },
      { actor: 'security-officer', after: { kind: 'sub', value: 'leaver-7', reason: 'left the clinic group' } },
    ]);
    expect(
      (
        await request(first)
          .get('/v1/token-revocations')
          .set(bearer(tokenFor('auditor')))
      ).status,
    ).toBe(403);
  });
});
