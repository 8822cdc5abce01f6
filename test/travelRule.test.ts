/**
 * Travel-rule information from the threshold, on anvil and Postgres through the real app: an
 * invoice of HK$9,000 shows nowhere to pay until the payer's information and their wallet's
 * EIP-712 signature are in; every field is checked and a signature by another wallet, for
 * another invoice or on another chain is refused, writing nothing; the information is stored
 * sealed; a payment from the proven wallet goes through and one from another wallet is held
 * (travel_rule_mismatch) for two finance people; auditors export it as IVMS101, clinic staff
 * cannot.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { Express } from 'express';
import request from 'supertest';
import { type Address, getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { travelRuleTypedData } from '../src/compliance/travelRule.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { fundedAccount, mint } from './support/chain.js';
import { audited } from './support/database.js';
import { clinicWithWallet, exceptionOf, FINANCE_A, FINANCE_B, get, post, type ReconEnv, reconcile, settleAll, startReconEnv } from './support/recon.js';
import { pay, readInvoice, type TestClinic, transfersOf } from './support/settlement.js';

/** The IVMS101 data model's required fields for a natural-person originator and a legal-person beneficiary. */
const IVMS101_REQUIRED = {
  type: 'object',
  required: ['originator', 'beneficiary'],
  properties: {
    originator: {
      type: 'object',
      required: ['originatorPersons', 'accountNumber'],
      properties: {
        originatorPersons: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['naturalPerson'],
            properties: {
              naturalPerson: {
                type: 'object',
                required: ['name'],
                properties: {
                  name: {
                    type: 'object',
                    required: ['nameIdentifier'],
                    properties: {
                      nameIdentifier: {
                        type: 'array',
                        minItems: 1,
                        items: {
                          type: 'object',
                          required: ['primaryIdentifier', 'nameIdentifierType'],
                          properties: { nameIdentifierType: { enum: ['ALIA', 'BIRT', 'MAID', 'LEGL', 'MISC'] } },
                        },
                      },
                    },
                  },
                  geographicAddress: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['addressType', 'country'],
                      properties: { addressType: { enum: ['HOME', 'BIZZ', 'GEOG'] }, country: { pattern: '^[A-Z]{2}$' } },
                    },
                  },
                  nationalIdentification: {
                    type: 'object',
                    required: ['nationalIdentifier', 'nationalIdentifierType'],
                    properties: { nationalIdentifierType: { enum: ['ARNU', 'CCPT', 'RAID', 'DRLC', 'FIIN', 'TXID', 'SOCS', 'IDCD', 'LEIX', 'MISC'] } },
                  },
                  dateAndPlaceOfBirth: { type: 'object', required: ['dateOfBirth', 'placeOfBirth'] },
                },
              },
            },
          },
        },
        accountNumber: { type: 'array', minItems: 1, items: { type: 'string' } },
      },
    },
    beneficiary: {
      type: 'object',
      required: ['beneficiaryPersons', 'accountNumber'],
      properties: {
        beneficiaryPersons: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['legalPerson'],
            properties: {
              legalPerson: {
                type: 'object',
                required: ['name'],
                properties: {
                  name: {
                    type: 'object',
                    required: ['nameIdentifier'],
                    properties: {
                      nameIdentifier: {
                        type: 'array',
                        minItems: 1,
                        items: { type: 'object', required: ['legalPersonName', 'legalPersonNameIdentifierType'] },
                      },
                    },
                  },
                },
              },
            },
          },
        },
        accountNumber: { type: 'array', minItems: 1 },
      },
    },
  },
};

describe('travel-rule information from HK$8,000', () => {
  let r: ReconEnv;
  let app: Express;
  let clinic: TestClinic;
  let admin: string;

  beforeAll(async () => {
    r = await startReconEnv();
    clinic = await clinicWithWallet(r.env);
    admin = tokenFor('clinic_admin', clinic.id);
    ({ app } = await buildTestApp({ db: r.env.db, rpcUrl: r.env.rpcUrl, network: r.env.network, overrides: { checkout: { travelRuleThresholdHkd: '8000' } } }));
  }, 120_000);
  afterAll(async () => {
    await r?.env.close();
  });

  const issue = async (amount: string) => {
    const created = await request(app)
      .post('/v1/invoices')
      .set(bearer(admin))
      .set('Idempotency-Key', crypto.randomUUID())
      .send({ patient_ref: 'P-9000', currency: 'HKD', line_items: [{ description: 'Surgery', quantity: 1, unit_amount: amount }] });
    expect(created.status, created.text).toBe(201);
    return {
      ...(created.body as { id: string; travel_rule: unknown; deposit_address: string | null }),
      token: String(created.body.checkout_url).split('/').at(-1)!,
    };
  };
  const details = {
    full_name: 'Chan Tai Man',
    id_type: 'CCPT',
    id_number: 'K1234567',
    id_country: 'hk',
    address_line: 'Flat 8, 88 Nathan Road',
    address_town: 'Kowloon',
    address_country: 'HK',
  };
  const sign = (account: ReturnType<typeof privateKeyToAccount>, invoiceId: string, chainId = r.env.network.chainId) =>
    account.signTypedData(travelRuleTypedData(chainId, invoiceId, account.address));
  const submit = (token: string, body: Record<string, unknown>) => request(app).post(`/checkout/${token}/travel-rule`).send(body);
  const records = async () => Number(((await r.env.db('travel_rule_records').count('* as n').first()) as { n: string }).n);

  it('below the threshold an invoice is as always; at HK$9,000 it shows nowhere to pay until the information is in', async () => {
    const small = await issue('7999.99');
    expect(small.travel_rule).toEqual({ required: false, status: null });
    expect(small.deposit_address).toMatch(/^0x/);
    const large = await issue('9000.00');
    expect(large).toMatchObject({ travel_rule: { required: true, status: 'pending' }, deposit_address: null, payment_uri: null, payment_options: null });
    const qr = await get(app, admin, `/v1/invoices/${large.id}/payment-qr.svg`);
    expect(qr.status).toBe(409);
    expect(qr.body).toMatchObject({ code: 'travel_rule_required' });
    const page = await request(app).get(`/checkout/${large.token}`);
    const row = await readInvoice(r.env, large.id);
    expect(page.text).not.toContain(row.deposit_address.slice(2));
    expect(page.text.toLowerCase()).not.toContain(getAddress(row.deposit_address).slice(2).toLowerCase());
  });

  it('checks every field and the signature, and writes nothing when anything is wrong', async () => {
    const invoice = await issue('9000.00');
    const payer = privateKeyToAccount(generatePrivateKey());
    const other = await issue('9500.00');
    const good = { ...details, payer_address: payer.address, signature: await sign(payer, invoice.id) };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, full_name: '' }, 'full_name'],
      [{ ...good, id_number: undefined, id_type: undefined, id_country: undefined }, 'id_number'],
      [{ ...good, id_number: undefined, birth_date: '2999-01-01', birth_place: 'Guangzhou' }, 'birth_date'],
      [{ ...good, address_country: 'Hong Kong' }, 'address_country'],
      [{ ...good, full_name: 'Chan <script>' }, 'full_name'],
      [{ ...good, id_type: 'XXXX' }, 'id_type'],
      [{ ...good, payer_address: '0x1234' }, 'payer_address'],
      // Another wallet's signature, a signature for another invoice, and one made for another chain.
      [{ ...good, signature: await sign(privateKeyToAccount(generatePrivateKey()), invoice.id) }, 'signature'],
      [{ ...good, signature: await sign(payer, other.id) }, 'signature'],
      [{ ...good, signature: await sign(payer, invoice.id, 1) }, 'signature'],
    ];
    for (const [body, param] of cases) {
      const refused = await submit(invoice.token, body);
      expect(refused.status, `${param}: ${refused.text}`).toBe(400);
      expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(refused.body).toMatchObject({ code: 'invalid_request', param });
    }
    expect(await records()).toBe(0);
    expect((await readInvoice(r.env, invoice.id)).travel_rule).toBe('pending');
  });

  it('captured, the information is sealed and the invoice shows where to pay; a payment from the proven wallet goes through', async () => {
    const invoice = await issue('9000.00');
    const payer = await fundedAccount(r.env.chain);
    await mint(r.env.chain, r.env.owner, r.env.token, payer.address, 10_000_000_000n);
    const body = { ...details, payer_address: payer.address, signature: await sign(privateKeyToAccount(payer.privateKey), invoice.id) };
    const captured = await submit(invoice.token, body);
    expect(captured.status, captured.text).toBe(200);
    expect(captured.body).toEqual({ status: 'captured', payer_address: payer.address });
    expect((await submit(invoice.token, body)).body).toMatchObject({ status: 409, code: 'travel_rule_captured' });

    // Sealed: no field in plain text at rest, and the record's own key is sealed too.
    const stored = await r.env.db('travel_rule_records').where({ invoice_id: invoice.id }).first();
    for (const value of ['Chan Tai Man', 'K1234567', 'Nathan Road']) expect(JSON.stringify(stored)).not.toContain(value);
    expect(stored.wrapped_key).toMatch(/^v1\./);

    const shown = await get(app, admin, `/v1/invoices/${invoice.id}`);
    expect(shown.body).toMatchObject({
      travel_rule: { required: true, status: 'captured' },
      deposit_address: getAddress((await readInvoice(r.env, invoice.id)).deposit_address),
    });
    // The clinic's staff see that it was captured, not what.
    expect(shown.text).not.toContain('Chan Tai Man');

    await pay(r.env, shown.body.deposit_address as string, 9_000_000_000n, { from: payer });
    await settleAll(r.env);
    expect((await readInvoice(r.env, invoice.id)).status).toBe('paid');
    expect(await r.env.db('payment_holds').where({ invoice_id: invoice.id }).first()).toBeUndefined();
    const paymentId = (await transfersOf(r.env.db, invoice.id)).find((transfer) => transfer.kind === 'payment')!.id;

    // The export: IVMS101 for auditors (audited), refused to the clinic's people and finance.
    const auditor = tokenFor('auditor');
    const exported = await get(app, auditor, `/v1/payments/${paymentId}/travel-rule`);
    expect(exported.status, exported.text).toBe(200);
    const validate = new Ajv2020({ strict: false }).compile(IVMS101_REQUIRED);
    expect(validate(exported.body.ivms101), JSON.stringify(validate.errors)).toBe(true);
    expect(exported.body.ivms101.originator).toMatchObject({
      originatorPersons: [
        {
          naturalPerson: {
            name: { nameIdentifier: [{ primaryIdentifier: 'Chan Tai Man', nameIdentifierType: 'LEGL' }] },
            nationalIdentification: { nationalIdentifier: 'K1234567', nationalIdentifierType: 'CCPT', countryOfIssue: 'HK' },
          },
        },
      ],
      accountNumber: [payer.address],
    });
    expect(exported.body.ivms101.beneficiary.beneficiaryPersons[0].legalPerson.name.nameIdentifier[0].legalPersonName).toBe('Kowloon Clinic');
    expect(exported.body).toMatchObject({ paid_from_payer: true, payer_address: payer.address });
    expect(await (await audited(r.env.db))('audit_log').where({ action: 'travel_rule.read' }).count('* as n').first()).toEqual({ n: '1' });
    for (const role of [admin, tokenFor('clinic_staff', clinic.id), FINANCE_A]) {
      expect((await get(app, role, `/v1/payments/${paymentId}/travel-rule`)).status).toBe(403);
    }
    const evidence = await get(app, FINANCE_A, `/v1/payments/${paymentId}/evidence`);
    expect(evidence.body.travel_rule).toMatchObject({ status: 'captured', paid_from_payer: true, export: `/v1/payments/${paymentId}/travel-rule` });
    expect(evidence.text).not.toContain('Chan Tai Man');
  });

  it('a payment from another wallet than the proven one is held as travel_rule_mismatch, and two finance people decide', async () => {
    const invoice = await issue('9000.00');
    const proven = privateKeyToAccount(generatePrivateKey());
    expect((await submit(invoice.token, { ...details, payer_address: proven.address, signature: await sign(proven, invoice.id) })).status).toBe(200);
    const deposit = (await readInvoice(r.env, invoice.id)).deposit_address as Address;
    await pay(r.env, deposit, 9_000_000_000n);
    await settleAll(r.env);
    expect((await readInvoice(r.env, invoice.id)).status).toBe('paid');
    expect(await r.env.db('payment_holds').where({ invoice_id: invoice.id }).first()).toMatchObject({ status: 'held', reason: 'travel_rule_mismatch' });
    expect((await transfersOf(r.env.db, invoice.id)).filter((transfer) => transfer.kind === 'forward')).toEqual([]);

    expect((await reconcile(app)).status).toBe('completed');
    const exception = await exceptionOf(app, 'travel_rule_mismatch', invoice.id);
    const proposed = await post(app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, {
      action: 'release',
      reason: 'The patient paid from a family member’s wallet; confirmed.',
    });
    expect(proposed.status, proposed.text).toBe(201);
    expect((await post(app, FINANCE_B, `/v1/resolutions/${proposed.body.id}/approve`)).status).toBe(200);
    await settleAll(r.env);
    expect((await transfersOf(r.env.db, invoice.id)).filter((transfer) => transfer.kind === 'forward')).toHaveLength(1);
  });
});
