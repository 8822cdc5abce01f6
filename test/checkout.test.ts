/**
 * The checkout page over real HTTP, against real Postgres: every invoice has a checkout URL
 * whose page shows what the patient needs and nothing internal, in the language asked for,
 * under a strict Content-Security-Policy; the status it polls; receipts only once paid; and one
 * 404 page, byte for byte, for every token that is not an invoice's. (The browser tests, with a
 * real payment moving the page, are in checkout.browser.test.ts.)
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { negotiateLanguage } from '../src/checkout/messages.js';
import { CHECKOUT_CSP } from '../src/http/checkout.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';

const DESCRIPTION = 'Acupuncture session (lower back)';
let database: TestDatabase;
let app: Express;
let clinicId: string;
let invoice: Record<string, unknown>;
let token: string;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({
    db: database.db,
    overrides: {
      checkout: {
        publicUrl: 'https://pay.example.hk',
        referenceRates: { rates: { CNY: '0.9213', USD: '0.1285' }, source: 'test rates', asOf: new Date('2026-11-27T08:00:00Z') },
      },
    },
  }));
  const clinic = await request(app)
    .post('/v1/clinics')
    .set(bearer(tokenFor('platform_admin')))
    .set('Idempotency-Key', randomUUID())
    .send({ name: 'Harbour <Family> Clinic', settlement_address: `0x${'ab'.repeat(20)}` });
  clinicId = clinic.body.id as string;
  const created = await request(app)
    .post('/v1/invoices')
    .set(bearer(tokenFor('clinic_admin', clinicId)))
    .set('Idempotency-Key', randomUUID())
    .send({ patient_ref: 'P-SECRET-42', currency: 'HKD', line_items: [{ description: DESCRIPTION, quantity: 2, unit_amount: '440.00' }] });
  expect(created.status).toBe(201);
  invoice = created.body as Record<string, unknown>;
  token = new URL(invoice.checkout_url as string).pathname.split('/').at(-1)!;
});
afterAll(async () => database?.close());

describe('checkout_url and reference amounts on the invoice', () => {
  it('every invoice has an unguessable checkout URL on the public base, and indicative CNY and USD amounts', async () => {
    expect(invoice.checkout_url).toMatch(/^https:\/\/pay\.example\.hk\/checkout\/[A-Za-z0-9_-]{43}$/);
    expect(invoice.reference_amounts).toEqual({
      indicative: true,
      source: 'test rates',
      as_of: '2026-11-27T08:00:00.000Z',
      amounts: [
        { currency: 'CNY', amount: '810.74', rate: '0.9213' },
        { currency: 'USD', amount: '113.08', rate: '0.1285' },
      ],
    });
    const again = await request(app)
      .get(`/v1/invoices/${invoice.id as string}`)
      .set(bearer(tokenFor('clinic_staff', clinicId)));
    // The token is shown once: reading the invoice again does not reveal it.
    expect(again.body.checkout_url).toBeNull();
    const other = await request(app)
      .post('/v1/invoices')
      .set(bearer(tokenFor('clinic_admin', clinicId)))
      .set('Idempotency-Key', randomUUID())
      .send({ patient_ref: 'P-1', currency: 'HKD', line_items: [{ description: 'x', quantity: 1, unit_amount: '1.00' }] });
    expect(other.body.checkout_url).not.toBe(invoice.checkout_url);
  });
});

describe('checkout tokens at rest', () => {
  it('are stored only as their SHA-256: no table holds the token, not even the stored answer a retry replays', async () => {
    const columns = (await database.db('information_schema.columns').where({ table_name: 'invoices' }).pluck('column_name')) as string[];
    expect(columns).toContain('checkout_token_hash');
    expect(columns).not.toContain('checkout_token');
    const row = await database.db('invoices').where({ id: invoice.id }).first('checkout_token_hash');
    expect(row.checkout_token_hash).toBe(createHash('sha256').update(token).digest('hex'));
    const stored = (await database.db('idempotency_keys').pluck('response_body')) as string[];
    expect(stored.join('\n')).not.toContain(token);
    const everything = (await database.db.raw(`SELECT string_agg(to_jsonb(i)::text, ' ') AS text FROM invoices i`)).rows[0].text as string;
    expect(everything).not.toContain(token);
  });

  it('a retry of the create replays checkout_url null; a new link replaces the old one, which stops working at once', async () => {
    const key = randomUUID();
    const body = { patient_ref: 'P-LINK', currency: 'HKD', line_items: [{ description: 'x', quantity: 1, unit_amount: '1.00' }] };
    const first = await request(app)
      .post('/v1/invoices')
      .set(bearer(tokenFor('clinic_admin', clinicId)))
      .set('Idempotency-Key', key)
      .send(body);
    const retry = await request(app)
      .post('/v1/invoices')
      .set(bearer(tokenFor('clinic_admin', clinicId)))
      .set('Idempotency-Key', key)
      .send(body);
    expect(first.body.checkout_url).toMatch(/\/checkout\/[A-Za-z0-9_-]{43}$/);
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(retry.body).toEqual({ ...first.body, checkout_url: null });
    const oldPath = new URL(first.body.checkout_url as string).pathname;
    expect((await request(app).get(oldPath)).status).toBe(200);

    const issued = await request(app)
      .post(`/v1/invoices/${first.body.id as string}/checkout-link`)
      .set(bearer(tokenFor('clinic_staff', clinicId)))
      .set('Idempotency-Key', randomUUID());
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({ object: 'checkout_link', invoice_id: first.body.id });
    const newPath = new URL(issued.body.checkout_url as string).pathname;
    expect(newPath).not.toBe(oldPath);
    expect((await request(app).get(oldPath)).status).toBe(404);
    expect((await request(app).get(newPath)).status).toBe(200);
    const audit = await (await audited(database.db))('audit_log')
      .where({ action: 'invoice.checkout_link_issued', target_id: first.body.id })
      .count('* as n')
      .first();
    expect(audit).toEqual({ n: '1' });
    // Another clinic cannot issue links for it.
    const foreign = await request(app)
      .post(`/v1/invoices/${first.body.id as string}/checkout-link`)
      .set(bearer(tokenFor('clinic_admin', 'clin_0123456789abcdef01234567')))
      .set('Idempotency-Key', randomUUID());
    expect([403, 404]).toContain(foreign.status);
  });
});

describe('the page', () => {
  it('shows the clinic, the number, the items and the amounts — and no internal id or patient reference', async () => {
    const response = await request(app).get(`/checkout/${token}`).set('Accept-Language', 'en-GB,en;q=0.9');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    const html = response.text;
    expect(html).toContain('<html lang="en">');
    expect(html).toContain('Harbour &lt;Family&gt; Clinic');
    expect(html).not.toContain('Harbour <Family> Clinic');
    expect(html).toContain(`Invoice ${invoice.number as number}`);
    expect(html).toContain(DESCRIPTION);
    expect(html).toContain('HK$880.00');
    expect(html).toContain(invoice.deposit_address as string);
    expect(html).toContain((invoice.payment_uri as string).replaceAll('&', '&amp;'));
    expect(html).toMatch(/<svg[^>]*>/); // the QR code, inline
    expect(html).toContain('data-status="open"');
    expect(html).toMatch(/CN¥810\.74|CNY\s?810\.74/);
    for (const internal of [invoice.id as string, clinicId, 'P-SECRET-42', 'inv_', 'clin_']) expect(html).not.toContain(internal);
  });

  it('is sent with headers fit for a payment page', async () => {
    const response = await request(app).get(`/checkout/${token}`);
    expect(response.headers['content-security-policy']).toBe(CHECKOUT_CSP);
    expect(CHECKOUT_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    expect(CHECKOUT_CSP).toContain("frame-ancestors 'none'");
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['x-robots-tag']).toBe('noindex, nofollow');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.text).not.toMatch(/<script(?![^>]*\bsrc=)(?![^>]*type="application\/json")[^>]*>/); // no inline script
    expect(response.text).not.toMatch(/\sstyle=|<style/);
  });

  it('speaks Traditional Chinese, Simplified Chinese or English, from Accept-Language or ?lang=', async () => {
    const zhHK = await request(app).get(`/checkout/${token}`).set('Accept-Language', 'zh-HK,zh;q=0.9');
    expect(zhHK.text).toContain('<html lang="zh-HK">');
    expect(zhHK.text).toContain('等待付款');
    expect(zhHK.text).toContain('發票');
    const zhCN = await request(app).get(`/checkout/${token}`).set('Accept-Language', 'zh-CN,zh;q=0.9,en;q=0.8');
    expect(zhCN.text).toContain('<html lang="zh-CN">');
    expect(zhCN.text).toContain('发票');
    const switched = await request(app).get(`/checkout/${token}`).query({ lang: 'zh-HK' }).set('Accept-Language', 'en');
    expect(switched.text).toContain('<html lang="zh-HK">');
    expect(switched.headers['content-language']).toBe('zh-HK');
  });

  it('negotiates by q-value and script, falling back to English', () => {
    expect(negotiateLanguage(undefined, 'zh-TW,zh;q=0.9')).toBe('zh-HK');
    expect(negotiateLanguage(undefined, 'zh-Hant-HK')).toBe('zh-HK');
    expect(negotiateLanguage(undefined, 'zh-Hans-CN')).toBe('zh-CN');
    expect(negotiateLanguage(undefined, 'fr-FR,en;q=0.5,zh-CN;q=0.8')).toBe('zh-CN');
    expect(negotiateLanguage(undefined, 'fr, de')).toBe('en');
    expect(negotiateLanguage(undefined, undefined)).toBe('en');
    expect(negotiateLanguage('zh-CN', 'en')).toBe('zh-CN');
    expect(negotiateLanguage('xx', 'zh-HK')).toBe('zh-HK');
  });

  it('the status it polls has the state and amounts, no ids', async () => {
    const response = await request(app).get(`/checkout/${token}/status`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      status: 'open',
      amount_due: '880.00',
      amount_paid: '0.00',
      amount_remaining: '880.00',
      confirmations: null,
      paid_at: null,
    });
    expect(JSON.stringify(response.body)).not.toMatch(/inv_|clin_|P-SECRET/);
  });

  it('has no receipt before it is paid', async () => {
    expect((await request(app).get(`/checkout/${token}/receipt`)).status).toBe(404);
    expect((await request(app).get(`/checkout/${token}/receipt.pdf`)).status).toBe(404);
  });

  it('serves its script and stylesheet from its own origin', async () => {
    const script = await request(app).get('/checkout/assets/checkout.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toMatch(/javascript/);
    const style = await request(app).get('/checkout/assets/checkout.css');
    expect(style.status).toBe(200);
    expect((await request(app).get('/checkout/assets/nothing.js')).status).toBe(404);
  });
});

describe("a token that is not an invoice's", () => {
  it('unknown, tampered or malformed: the same 404 page, byte for byte', async () => {
    const tampered = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
    const unknown = 'x'.repeat(43);
    const bodies = [];
    for (const candidate of [tampered, unknown, 'short', encodeURIComponent('<script>'), 'y'.repeat(500)]) {
      for (const suffix of ['', '/status', '/receipt', '/receipt.pdf']) {
        const response = await request(app).get(`/checkout/${candidate}${suffix}`).set('Accept-Language', 'en');
        expect(response.status).toBe(404);
        expect(response.headers['content-type']).toMatch(/^text\/html/);
        bodies.push(response.text);
      }
    }
    expect(new Set(bodies).size).toBe(1);
    expect(bodies[0]).not.toContain(tampered);
  });
});
