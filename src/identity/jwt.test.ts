import { createHmac, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { caught } from '../../test/support/caught.js';
import { AuthenticationError } from './errors.js';
import { createJwtVerifier, parseTtl, signHs256Token } from './jwt.js';

const SECRET = 'unit-test-secret-0123456789abcdef0123456789';
const COMMON = { issuer: 'clinicpay', audience: 'clinicpay-api' };
const CLINIC = 'clin_0123456789abcdef01234567';
const hs256 = createJwtVerifier({ algorithm: 'HS256', key: SECRET, ...COMMON });

const failure = (verify: (token: string) => unknown, token: string) => caught(() => verify(token), AuthenticationError);

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('createJwtVerifier', () => {
  it('accepts a well-formed token and returns the caller', () => {
    const token = signHs256Token({ secret: SECRET, ...COMMON, role: 'clinic_staff', sub: 'nurse-7', clinicId: CLINIC, ttlSeconds: 60 });
    expect(hs256(token)).toEqual({ sub: 'nurse-7', role: 'clinic_staff', clinicId: CLINIC });
  });

  it('refuses alg none, the wrong secret, issuer, audience, a missing exp, and an expired token', () => {
    const claims = { role: 'finance', sub: 'f1', iss: COMMON.issuer, aud: COMMON.audience, exp: Math.floor(Date.now() / 1000) + 60 };
    expect(failure(hs256, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`).code).toBe('invalid_token');
    expect(failure(hs256, jwt.sign(claims, 'another-secret-0123456789abcdef0123', { algorithm: 'HS256' })).code).toBe('invalid_token');
    expect(failure(hs256, jwt.sign({ ...claims, iss: 'someone-else' }, SECRET)).code).toBe('invalid_token');
    expect(failure(hs256, jwt.sign({ ...claims, aud: 'other-api' }, SECRET)).code).toBe('invalid_token');
    const { exp: _exp, ...noExpiry } = claims;
    expect(failure(hs256, jwt.sign(noExpiry, SECRET)).code).toBe('invalid_token');
    expect(failure(hs256, jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, SECRET)).code).toBe('token_expired');
  });

  it('refuses claims that do not fit the role', () => {
    const sign = (extra: object) => jwt.sign({ sub: 'u', ...extra }, SECRET, { ...COMMON, expiresIn: 60 });
    expect(failure(hs256, sign({ role: 'clinic_admin' })).message).toContain('clinic_id');
    expect(failure(hs256, sign({ role: 'platform_admin', clinic_id: CLINIC })).code).toBe('invalid_token');
    expect(failure(hs256, sign({ role: 'superuser' })).code).toBe('invalid_token');
    expect(failure(hs256, sign({ role: 'finance', clinic_id: "clin_' OR 1=1" })).code).toBe('invalid_token');
    expect(failure(hs256, jwt.sign({ role: 'finance' }, SECRET, { ...COMMON, expiresIn: 60 })).message).toContain('sub');
  });

  it('lets finance and auditor act across clinics or be confined to one', () => {
    const across = signHs256Token({ secret: SECRET, ...COMMON, role: 'auditor', sub: 'a', ttlSeconds: 60 });
    const confined = signHs256Token({ secret: SECRET, ...COMMON, role: 'auditor', sub: 'a', clinicId: CLINIC, ttlSeconds: 60 });
    expect(hs256(across).clinicId).toBeUndefined();
    expect(hs256(confined).clinicId).toBe(CLINIC);
  });

  it.each(['RS256', 'ES256'] as const)('verifies %s with a public key and refuses an HS256 token forged with that public key', (algorithm) => {
    const { publicKey, privateKey } =
      algorithm === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const verify = createJwtVerifier({ algorithm, key: pem, ...COMMON });
    const good = jwt.sign({ role: 'finance' }, privateKey, { algorithm, ...COMMON, subject: 'f', expiresIn: 60 });
    expect(verify(good).role).toBe('finance');
    // Algorithm confusion: HMAC keyed with the public key text must not pass.
    const forged = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ role: 'platform_admin', sub: 'x', ...{ iss: COMMON.issuer, aud: COMMON.audience }, exp: Math.floor(Date.now() / 1000) + 60 })}`;
    const signature = createHmac('sha256', pem).update(forged).digest('base64url');
    expect(failure(verify, `${forged}.${signature}`).code).toBe('invalid_token');
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
