import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { AuthenticationError } from './errors.js';
import { createJwtVerifier, parseTtl, signHs256Token } from './jwt.js';

const SECRET = 'unit-test-secret-0123456789abcdef0123456789';
const COMMON = { issuer: 'clinicpay', audience: 'clinicpay-api' };
const CLINIC = 'clin_0123456789abcdef01234567';
const hs256 = createJwtVerifier({ algorithm: 'HS256', key: SECRET, ...COMMON });

async function failure(verify: (token: string) => Promise<unknown>, token: string): Promise<AuthenticationError> {
  try {
    await verify(token);
  } catch (error) {
    if (error instanceof AuthenticationError) return error;
    throw error;
  }
  throw new Error('the token was accepted');
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('createJwtVerifier', () => {
  it('accepts a well-formed token and returns the caller, with its jti and issue time', async () => {
    const token = signHs256Token({ secret: SECRET, ...COMMON, role: 'clinic_staff', sub: 'nurse-7', clinicId: CLINIC, ttlSeconds: 60 });
    const principal = await hs256(token);
    expect(principal).toMatchObject({ sub: 'nurse-7', role: 'clinic_staff', clinicId: CLINIC });
    expect(principal.tokenId).toMatch(/^[0-9a-f-]{36}$/);
    expect(Math.abs(principal.issuedAt!.getTime() - Date.now())).toBeLessThan(5000);
  });

  it('refuses alg none, the wrong secret, issuer, audience, a missing exp or iat, an expired token, and one past the maximum age', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { role: 'finance', sub: 'f1', iss: COMMON.issuer, aud: COMMON.audience, exp: now + 60, iat: now };
    expect((await failure(hs256, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`)).code).toBe('invalid_token');
    expect((await failure(hs256, jwt.sign(claims, 'another-secret-0123456789abcdef0123', { algorithm: 'HS256' }))).code).toBe('invalid_token');
    expect((await failure(hs256, jwt.sign({ ...claims, iss: 'someone-else' }, SECRET))).code).toBe('invalid_token');
    expect((await failure(hs256, jwt.sign({ ...claims, aud: 'other-api' }, SECRET))).code).toBe('invalid_token');
    const { exp: _exp, ...noExpiry } = claims;
    expect((await failure(hs256, jwt.sign(noExpiry, SECRET))).code).toBe('invalid_token');
    expect((await failure(hs256, jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, SECRET))).code).toBe('token_expired');
    // No iat: the token's age cannot be known.
    const { iat: _iat, ...noIssueTime } = claims;
    expect((await failure(hs256, jwt.sign(noIssueTime, SECRET, { noTimestamp: true }))).message).toContain('iat');
    // Valid for a year, but issued two days ago: past the 24 h maximum age.
    const old = jwt.sign({ ...claims, iat: now - 2 * 86_400, exp: now + 365 * 86_400 }, SECRET);
    const tooOld = await failure(hs256, old);
    expect(tooOld.code).toBe('token_expired');
    expect(tooOld.message).toContain('86400');
    // With a longer maximum age it passes.
    const lenient = createJwtVerifier({ algorithm: 'HS256', key: SECRET, ...COMMON, maxAgeSeconds: 3 * 86_400 });
    expect((await lenient(old)).sub).toBe('f1');
  });

  it('refuses claims that do not fit the role', async () => {
    const sign = (extra: object) => jwt.sign({ sub: 'u', ...extra }, SECRET, { ...COMMON, expiresIn: 60 });
    expect((await failure(hs256, sign({ role: 'clinic_admin' }))).message).toContain('clinic_id');
    expect((await failure(hs256, sign({ role: 'platform_admin', clinic_id: CLINIC }))).code).toBe('invalid_token');
    expect((await failure(hs256, sign({ role: 'superuser' }))).code).toBe('invalid_token');
    expect((await failure(hs256, sign({ role: 'finance', clinic_id: "clin_' OR 1=1" }))).code).toBe('invalid_token');
    expect((await failure(hs256, jwt.sign({ role: 'finance' }, SECRET, { ...COMMON, expiresIn: 60 }))).message).toContain('sub');
  });

  it('lets finance and auditor act across clinics or be confined to one', async () => {
    const across = signHs256Token({ secret: SECRET, ...COMMON, role: 'auditor', sub: 'a', ttlSeconds: 60 });
    const confined = signHs256Token({ secret: SECRET, ...COMMON, role: 'auditor', sub: 'a', clinicId: CLINIC, ttlSeconds: 60 });
    expect((await hs256(across)).clinicId).toBeUndefined();
    expect((await hs256(confined)).clinicId).toBe(CLINIC);
  });

  it.each(['RS256', 'ES256'] as const)('verifies %s with a public key and refuses an HS256 token forged with that public key', async (algorithm) => {
    const { publicKey, privateKey } =
      algorithm === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const verify = createJwtVerifier({ algorithm, key: pem, ...COMMON });
    const good = jwt.sign({ role: 'finance' }, privateKey, { algorithm, ...COMMON, subject: 'f', expiresIn: 60 });
    expect((await verify(good)).role).toBe('finance');
    // Algorithm confusion: HMAC keyed with the public key text must not pass.
    const forged = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ role: 'platform_admin', sub: 'x', ...{ iss: COMMON.issuer, aud: COMMON.audience }, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 })}`;
    const signature = createHmac('sha256', pem).update(forged).digest('base64url');
    expect((await failure(verify, `${forged}.${signature}`)).code).toBe('invalid_token');
  });
});

describe('parseTtl', () => {
  it('reads s, m, h and d and bounds the result', () => {
    expect(parseTtl('30s')).toBe(30);
    expect(parseTtl('15m')).toBe(900);
    expect(parseTtl('1h')).toBe(3600);
    expect(parseTtl('7d')).toBe(604_800);
    for (const bad of ['0s', '31d', '1w', '10', '-1h', '1.5h']) expect(() => parseTtl(bad)).toThrow();
  });
});
