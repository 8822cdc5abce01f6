/**
 * Two HKD stablecoins from two test issuers (6 and 18 decimals) on the allow-list, on a real
 * anvil and Postgres: an invoice offers both, a mix pays it at par, each token is its own
 * ledger asset, the flusher forwards each token the deposit holds, reconciliation finds the
 * books and the chain agree in both, statements are per asset, and a token off the list is
 * never credited. The start-up pins are checked against the chain.
 */
import type { Express } from 'express';
import request from 'supertest';
import { getAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { presentInvoice } from '../src/billing/invoices.js';
import { createChainClient } from '../src/chain/client.js';
import { loadPaymentNetwork, TokenPinError } from '../src/chain/paymentNetwork.js';
import { executeReconciliation, startReconciliation } from '../src/recon/runs.js';
import { bearer, buildTestApp, tokenFor } from './support/app.js';
import { deployTestToken, mint } from './support/chain.js';
import { reconDeps } from './support/recon.js';
import {
  balanceOf,
  depositBalanceIn,
  expectLedgerInvariants,
  flush,
  newClinic,
  newInvoice,
  pay,
  readInvoice,
  type SettlementEnv,
  settle,
  startSettlementEnv,
  startWatcherHere,
  transfersOf,
  webhookEvents,
} from './support/settlement.js';

let env: SettlementEnv;
let app: Express;

beforeAll(async () => {
  env = await startSettlementEnv({ secondTokenDecimals: 18 });
  await startWatcherHere(env);
  ({ app } = await buildTestApp({ db: env.db, rpcUrl: env.rpcUrl, network: env.network }));
});
afterAll(async () => env?.close());

/** The TokenPinError `promise` rejects with; fails on anything else. */
async function rejection(promise: Promise<unknown>): Promise<TokenPinError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(TokenPinError);
  return error as TokenPinError;
}

const assetOf = (token: string) => `${env.network.chainId}:${token.toLowerCase()}`;

describe('the allow-list at start', () => {
  it('describes each pinned token with its issuer, and refuses a token whose symbol or decimals are not the pinned ones', async () => {
    expect(env.network.tokens.map(({ symbol, decimals, issuer }) => ({ symbol, decimals, issuer }))).toEqual([
      { symbol: 'tHKD', decimals: 6, issuer: 'Harbour Test Issuer Ltd' },
      { symbol: 'tHKDB', decimals: 18, issuer: 'Lion Rock Test Issuer Ltd' },
    ]);
    const chain = createChainClient({ rpcUrl: env.anvil.rpcUrl, timeoutMs: 5000 });
    const pin = { address: env.secondToken!, symbol: 'tHKDB', decimals: 6, issuer: 'Lion Rock Test Issuer Ltd', licence: 'TEST-SC-2', peg: 'HKD' as const };
    const wrongDecimals = await rejection(loadPaymentNetwork({ chain, tokens: [pin], factory: env.factory, timeoutMs: 5000 }));
    expect(wrongDecimals.message).toMatch(/answers tHKDB with 18 decimals, but ACCEPTED_TOKENS pins tHKDB with 6/);
    // An address with no code (an account, or a token on another chain) is no token at all.
    const noCode = await rejection(
      loadPaymentNetwork({ chain, tokens: [{ ...pin, address: env.payer.address, decimals: 18 }], factory: env.factory, timeoutMs: 5000 }),
    );
    expect(noCode.message).toMatch(/no contract at 0x[0-9a-fA-F]{40}/);
  });
});

describe('an invoice paid in a mix of two accepted tokens', () => {
  it('offers both tokens, counts each at par, posts each as its own asset, forwards both, and reconciles clean', async () => {
    const clinic = await newClinic(env);
    const invoice = await newInvoice(env, clinic, { amount: '10.00' });
    expect(BigInt(invoice.token_amount_due)).toBe(10_000_000n);

    // The API object: the pricing token's fields as before, and one option per accepted token.
    const presented = presentInvoice(invoice, new Date()) as {
      payment_options: { token: { symbol: string; issuer: string }; token_amount_due: string; payment_uri: string }[];
    };
    expect(presented.payment_options.map((option) => [option.token.symbol, option.token.issuer, option.token_amount_due])).toEqual([
      ['tHKD', 'Harbour Test Issuer Ltd', '10000000'],
      ['tHKDB', 'Lion Rock Test Issuer Ltd', '10000000000000000000'],
    ]);
    expect(presented.payment_options[1]!.payment_uri).toBe(
      `ethereum:${getAddress(env.secondToken!)}@${env.network.chainId}/transfer?address=${getAddress(invoice.deposit_address)}&uint256=10000000000000000000`,
    );

    // HK$4 in the 6-decimal token, HK$6 (and a speck below a micro-dollar) in the 18-decimal one.
    await pay(env, invoice.deposit_address, 4_000_000n);
    await pay(env, invoice.deposit_address, 6_000_000_000_000_000_007n, { token: env.secondToken! });
    await settle(env);

    const paid = await readInvoice(env, invoice.id);
    expect(paid.status).toBe('paid');
    // At par in the pricing token's units; the speck below one of them is not counted.
    expect(paid.token_amount_paid).toBe('10000000');
    expect(await depositBalanceIn(env.db, invoice.id, assetOf(env.token))).toBe(4_000_000n);
    expect(await depositBalanceIn(env.db, invoice.id, assetOf(env.secondToken!))).toBe(6_000_000_000_000_000_007n);
    const confirmed = (await webhookEvents(env.db, clinic.id, 'invoice.paid'))[0]!;
    expect(confirmed.object.amount_paid).toBe('10.00');
    // The patient's receipt names both tokens, each payment in its own.
    const receipt = await request(app).get(`/checkout/${(invoice as typeof invoice & { checkout_token: string }).checkout_token}/receipt?lang=en`);
    expect(receipt.status).toBe(200);
    expect(receipt.text).toContain('Paid in tHKD, tHKDB');

    // One token per pass: the first sweep takes tHKD and asks for tHKDB at once.
    expect((await flush(env)).flushed).toBe(1);
    expect(await balanceOf(env, clinic.wallet)).toBe(4_000_000n);
    expect(await balanceOf(env, clinic.wallet, env.secondToken!)).toBe(0n);
    expect((await flush(env)).flushed).toBe(1);
    expect(await balanceOf(env, clinic.wallet, env.secondToken!)).toBe(6_000_000_000_000_000_007n);
    expect(await balanceOf(env, invoice.deposit_address)).toBe(0n);
    expect(await balanceOf(env, invoice.deposit_address, env.secondToken!)).toBe(0n);
    await settle(env);

    const forwards = (await transfersOf(env.db, invoice.id)).filter((transfer) => transfer.kind === 'forward');
    expect(forwards.map((transfer) => [transfer.token_address, transfer.amount, transfer.status]).sort()).toEqual(
      [
        [env.token.toLowerCase(), '4000000', 'confirmed'],
        [env.secondToken!.toLowerCase(), '6000000000000000007', 'confirmed'],
      ].sort(),
    );
    // Nothing left to sweep, and nothing swept twice.
    expect((await flush(env)).flushed).toBe(0);
    await expectLedgerInvariants(env);

    const deps = reconDeps(env);
    const run = await startReconciliation(deps, { requestedBy: 'test' });
    const done = await executeReconciliation(deps, run.id);
    expect(done.status).toBe('completed');
    const mismatches = await env.db('exceptions').where({ type: 'balance_mismatch' }).select('token_address', 'expected', 'observed');
    expect(mismatches).toEqual([]);
  });
});

describe('a token that is not on the allow-list', () => {
  it('is recorded as a foreign token and never credited, however it is named', async () => {
    const clinic = await newClinic(env);
    const invoice = await newInvoice(env, clinic, { amount: '5.00' });
    // Same symbol and decimals as an accepted token: the address is what counts.
    const lookalike = await deployTestToken(env.chain, env.owner, 6, 'tHKD');
    await mint(env.chain, env.owner, lookalike, env.payer.address, 100_000_000n);
    await pay(env, invoice.deposit_address, 5_000_000n, { token: lookalike });
    await settle(env);
    expect((await readInvoice(env, invoice.id)).status).toBe('open');
    expect((await transfersOf(env.db, invoice.id)).map((transfer) => transfer.kind)).toEqual(['foreign_token']);
    expect(await env.db('journal_entries').where({ invoice_id: invoice.id })).toEqual([]);
  });
});

describe('statements per asset', () => {
  it('a statement is of one accepted token, in its own decimals; a token off the list is refused with a problem', async () => {
    const clinicId = ((await env.db('invoices').orderBy('created_at').first('clinic_id')) as { clinic_id: string }).clinic_id;
    const from = new Date(Date.now() - 3600_000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const finance = bearer(tokenFor('finance', clinicId));
    const second = await request(app).get('/v1/statements').query({ clinic_id: clinicId, from, to, token: env.secondToken }).set(finance);
    expect(second.status, second.text).toBe(200);
    const document = second.body as { token: { symbol: string; decimals: number }; asset: string; closing_balance: Record<string, string> };
    expect(document.token).toMatchObject({ symbol: 'tHKDB', decimals: 18 });
    expect(document.asset).toBe(assetOf(env.secondToken!));
    // Each payment line points to the payment's evidence.
    const lines = (second.body as { lines: { type: string; evidence?: string | null; transfer?: { transfer_id: string } | null }[] }).lines;
    const payments = lines.filter((line) => line.type === 'payment');
    expect(payments.length).toBeGreaterThan(0);
    for (const line of payments) expect(line.evidence).toBe(`/v1/payments/${line.transfer!.transfer_id}/evidence`);
    for (const line of lines.filter((candidate) => candidate.type === 'forward')) expect(line.evidence).toBeNull();
    const first = await request(app).get('/v1/statements').query({ clinic_id: clinicId, from, to }).set(finance);
    expect(first.status, first.text).toBe(200);
    expect((first.body as { token: { symbol: string } }).token.symbol).toBe('tHKD');

    const before = await env.db('statements').count({ n: '*' }).first();
    const refused = await request(app).get('/v1/statements').query({ clinic_id: clinicId, from, to, token: env.payer.address }).set(finance);
    expect(refused.status).toBe(400);
    expect(refused.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused.body).toMatchObject({ code: 'invalid_request', param: 'token' });
    expect(await env.db('statements').count({ n: '*' }).first()).toEqual(before);
  });
});
