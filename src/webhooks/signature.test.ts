import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhookPayload, verifyWebhookSignature } from './signature.js';

const SECRET = 'whsec_test_0123456789abcdefghijklmnopqrstuvwxyz';
const BODY = '{"id":"evt_0123456789abcdef01234567","type":"invoice.paid","created":1764201600,"data":{"id":"inv_1"}}';
const T = 1_764_201_600;
const AT_T = new Date(T * 1000);

describe('signWebhookPayload', () => {
  it('is t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> keyed with the secret', () => {
    const expected = createHmac('sha256', SECRET).update(`${T}.${BODY}`).digest('hex');
    expect(signWebhookPayload({ secret: SECRET, timestamp: T, rawBody: BODY })).toBe(`t=${T},v1=${expected}`);
  });

  it('matches a value computed independently (fixed vector)', () => {
    // printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_k'
    expect(signWebhookPayload({ secret: 'whsec_k', timestamp: 1_700_000_000, rawBody: '{"a":1}' })).toBe(
      't=1700000000,v1=a252a4340d8bbbdbac8643a2812cc7d628ad79bfba544bff054ac2fa10f795a2',
    );
  });

  it('signs bytes and the same text as a string identically, UTF-8 included', () => {
    const text = '{"clinic":"中環診所 ✓"}';
    expect(signWebhookPayload({ secret: SECRET, timestamp: T, rawBody: Buffer.from(text, 'utf8') })).toBe(
      signWebhookPayload({ secret: SECRET, timestamp: T, rawBody: text }),
    );
  });

  it('refuses fractional, negative or non-finite timestamps and an empty secret', () => {
    for (const timestamp of [1.5, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => signWebhookPayload({ secret: SECRET, timestamp, rawBody: BODY }), String(timestamp)).toThrow(RangeError);
    }
    expect(() => signWebhookPayload({ secret: '', timestamp: T, rawBody: BODY })).toThrow(RangeError);
    expect(() => signWebhookPayload({ secret: [], timestamp: T, rawBody: BODY })).toThrow(RangeError);
    expect(() => signWebhookPayload({ secret: [SECRET, ''], timestamp: T, rawBody: BODY })).toThrow(RangeError);
  });

  it('with several secrets (a rotation overlap), gives one v1 per secret, in order, each verifiable alone', () => {
    const header = signWebhookPayload({ secret: ['whsec_new', SECRET], timestamp: T, rawBody: BODY });
    const single = (secret: string) => signWebhookPayload({ secret, timestamp: T, rawBody: BODY }).split(',')[1];
    expect(header).toBe(`t=${T},${single('whsec_new')},${single(SECRET)}`);
    for (const secret of ['whsec_new', SECRET]) {
      expect(verifyWebhookSignature({ header, rawBody: BODY, secret, now: new Date(T * 1000) }).valid).toBe(true);
    }
  });
});

describe('verifyWebhookSignature', () => {
  const header = signWebhookPayload({ secret: SECRET, timestamp: T, rawBody: BODY });

  it('accepts the signature of the exact body with the right secret', () => {
    expect(verifyWebhookSignature({ header, rawBody: BODY, secret: SECRET, now: AT_T })).toEqual({ valid: true, timestamp: T });
    expect(verifyWebhookSignature({ header, rawBody: Buffer.from(BODY), secret: SECRET, now: AT_T }).valid).toBe(true);
  });

  it('refuses another secret, a tampered body, and a re-signed timestamp', () => {
    expect(verifyWebhookSignature({ header, rawBody: BODY, secret: `${SECRET}x`, now: AT_T })).toEqual({ valid: false, reason: 'no_matching_signature' });
    expect(verifyWebhookSignature({ header, rawBody: BODY.replace('invoice.paid', 'invoice.void'), secret: SECRET, now: AT_T })).toEqual({
      valid: false,
      reason: 'no_matching_signature',
    });
    expect(verifyWebhookSignature({ header, rawBody: `${BODY} `, secret: SECRET, now: AT_T }).valid).toBe(false);
    // Moving t (to make an old request look fresh) breaks the signature: t is signed too.
    const moved = header.replace(`t=${T}`, `t=${T + 60}`);
    expect(verifyWebhookSignature({ header: moved, rawBody: BODY, secret: SECRET, now: AT_T })).toEqual({ valid: false, reason: 'no_matching_signature' });
  });

  it('accepts timestamps within the tolerance either way and refuses stale and future ones beyond it', () => {
    const at = (offsetSeconds: number, toleranceSeconds?: number) =>
      verifyWebhookSignature({
        header,
        rawBody: BODY,
        secret: SECRET,
        now: new Date((T + offsetSeconds) * 1000),
        ...(toleranceSeconds === undefined ? {} : { toleranceSeconds }),
      });
    expect(at(300).valid).toBe(true);
    expect(at(-300).valid).toBe(true);
    expect(at(301)).toEqual({ valid: false, reason: 'timestamp_outside_tolerance' });
    expect(at(-301)).toEqual({ valid: false, reason: 'timestamp_outside_tolerance' });
    expect(at(30, 10)).toEqual({ valid: false, reason: 'timestamp_outside_tolerance' });
    expect(at(3600, 7200).valid).toBe(true);
  });

  it('defaults now to the current time', () => {
    const fresh = signWebhookPayload({ secret: SECRET, timestamp: Math.floor(Date.now() / 1000), rawBody: BODY });
    expect(verifyWebhookSignature({ header: fresh, rawBody: BODY, secret: SECRET }).valid).toBe(true);
    expect(verifyWebhookSignature({ header, rawBody: BODY, secret: SECRET }).valid).toBe(false);
  });

  it('accepts several v1 values when one matches (secret rotation), ignores unknown schemes and spaces', () => {
    const [, good] = header.split(',v1=');
    const other = signWebhookPayload({ secret: 'whsec_old', timestamp: T, rawBody: BODY }).split(',v1=')[1];
    for (const variant of [`t=${T},v1=${other},v1=${good}`, `t=${T},v1=${good},v1=${other}`, `v0=abc,t=${T}, v1=${good!.toUpperCase()}`, `v1=${good},t=${T}`]) {
      expect(verifyWebhookSignature({ header: variant, rawBody: BODY, secret: SECRET, now: AT_T }).valid, variant).toBe(true);
    }
    expect(verifyWebhookSignature({ header: `t=${T},v1=${other}`, rawBody: BODY, secret: SECRET, now: AT_T }).valid).toBe(false);
  });

  it('refuses missing and malformed headers', () => {
    expect(verifyWebhookSignature({ header: undefined, rawBody: BODY, secret: SECRET, now: AT_T })).toEqual({ valid: false, reason: 'missing_header' });
    expect(verifyWebhookSignature({ header: '  ', rawBody: BODY, secret: SECRET, now: AT_T })).toEqual({ valid: false, reason: 'missing_header' });
    const [, good] = header.split(',v1=');
    for (const bad of [
      'garbage',
      `v1=${good}`, // no timestamp
      `t=${T}`, // no signature
      `t=${T},t=${T},v1=${good}`, // two timestamps
      `t=-${T},v1=${good}`,
      `t=${T}.5,v1=${good}`,
      `t=${T},v1=${good!.slice(1)}`, // 63 hex digits
      `t=${T},v1=${good}00`,
      `t=${T},v1=${'z'.repeat(64)}`,
      `t=${T},,v1=${good}`,
      `t=${T},v1=${good},${'x'.repeat(5000)}=1`,
    ]) {
      expect(verifyWebhookSignature({ header: bad, rawBody: BODY, secret: SECRET, now: AT_T }), bad).toEqual({ valid: false, reason: 'malformed_header' });
    }
  });
});
