/**
 * Issuers' freezes, on anvil and Postgres with the test token's real freeze functions: a
 * deposit address or a clinic's wallet frozen by the issuer is seen (from its event, confirmed
 * by the view), alerted, kept out of forwarding, and put in finance's queue; lifted, the deposit
 * is forwarded and the exception resolves itself. An address of nobody the gateway knows is
 * ignored.
 */
import { getAddress } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testHKDAbi } from '../contracts/artifacts/TestHKD.js';
import { createLogger } from '../src/platform/log.js';
import { type FreezeWatchDeps, watchFreezes } from '../src/settlement/freezeWatch.js';
import { CapturedLog } from './support/app.js';
import { audited } from './support/database.js';
import { clinicWithWallet, exceptionOf, FINANCE_A, post, type ReconEnv, reconcile, settleAll, startReconEnv } from './support/recon.js';
import { balanceOf, newInvoice, pay, type TestClinic, transfersOf } from './support/settlement.js';

describe("an issuer's freeze of the gateway's addresses", () => {
  let r: ReconEnv;
  let clinic: TestClinic;
  const log = new CapturedLog();

  beforeAll(async () => {
    r = await startReconEnv({ issuerFreezes: true });
    clinic = await clinicWithWallet(r.env);
  }, 120_000);
  afterAll(async () => {
    await r?.env.close();
  });

  const deps = (): FreezeWatchDeps => ({
    db: r.env.db,
    chain: r.env.client,
    logger: createLogger('info', log),
    chainId: r.env.network.chainId,
    tokens: r.env.network.tokens,
    maxBlockRange: 2000n,
  });
  /** The test issuer (the token's owner) freezes or lifts `address`. */
  const issuer = async (functionName: 'freeze' | 'unfreeze', address: string) => {
    const hash = await r.env.owner.wallet.writeContract({ address: r.env.token, abi: testHKDAbi, functionName, args: [getAddress(address)] });
    expect((await r.env.chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })).status).toBe('success');
  };
  const forwarded = async (invoiceId: string) => (await transfersOf(r.env.db, invoiceId)).filter((transfer) => transfer.kind === 'forward');

  it('starts clean: the first pass asks about every clinic wallet and finds none frozen', async () => {
    expect(r.env.network.token.freeze).toEqual({ view: 'isFrozen', event: 'Frozen' });
    expect(await watchFreezes(deps())).toEqual({ frozen: 0, lifted: 0 });
    expect(await r.env.db('freeze_scans').count('* as n').first()).toEqual({ n: '1' });
  });

  it('a frozen deposit address is alerted, not swept, and in the queue; lifted, it is swept and the exception resolves', async () => {
    const invoice = await newInvoice(r.env, clinic, { amount: '25.00' });
    await pay(r.env, invoice.deposit_address, 25_000_000n);
    await issuer('freeze', invoice.deposit_address);
    expect(await watchFreezes(deps())).toEqual({ frozen: 1, lifted: 0 });
    const freeze = await r.env.db('address_freezes').where({ address: invoice.deposit_address }).first();
    expect(freeze).toMatchObject({ role: 'deposit', invoice_id: invoice.id, clinic_id: clinic.id, token_address: r.env.token.toLowerCase(), lifted_at: null });
    expect(log.text).toMatch(/"alert":"address_frozen"/);
    expect(await (await audited(r.env.db))('audit_log').where({ action: 'address.frozen', target_id: freeze.id }).count('* as n').first()).toEqual({ n: '1' });
    // Seen again: nothing new.
    expect(await watchFreezes(deps())).toEqual({ frozen: 0, lifted: 0 });

    // Paid and final, but nothing is sent from the frozen address: the request waits, no retry is used up.
    await settleAll(r.env);
    expect(await forwarded(invoice.id)).toEqual([]);
    expect(await r.env.db('flush_requests').where({ invoice_id: invoice.id }).first()).toMatchObject({ status: 'pending', attempts: 0 });

    // Finance sees it, and cannot "resolve" what only the issuer can lift.
    expect((await reconcile(r.app)).status).toBe('completed');
    const exception = await exceptionOf(r.app, 'address_frozen', invoice.id);
    expect(exception.details).toMatchObject({ freeze_id: freeze.id, address: getAddress(invoice.deposit_address), role: 'deposit' });
    const refused = await post(r.app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, { action: 'write_off', reason: 'frozen' });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: 'invalid_request', param: 'action' });
    expect(await r.env.db('resolutions').where({ exception_id: exception.id }).count('* as n').first()).toEqual({ n: '0' });

    // Lifted: swept, and the next run resolves the exception.
    await issuer('unfreeze', invoice.deposit_address);
    expect(await watchFreezes(deps())).toEqual({ frozen: 0, lifted: 1 });
    await settleAll(r.env);
    expect(await forwarded(invoice.id)).toHaveLength(1);
    expect(await balanceOf(r.env, invoice.deposit_address)).toBe(0n);
    expect((await reconcile(r.app)).status).toBe('completed');
    expect(await r.env.db('exceptions').where({ id: exception.id }).first()).toMatchObject({ status: 'resolved' });
  });

  it("a frozen clinic wallet: nothing is forwarded to it until the issuer lifts the freeze; another's address is ignored", async () => {
    const stranger = privateKeyToAccount(generatePrivateKey()).address;
    await issuer('freeze', clinic.wallet);
    await issuer('freeze', stranger);
    expect(await watchFreezes(deps())).toEqual({ frozen: 1, lifted: 0 });
    expect(await r.env.db('address_freezes').where({ address: stranger.toLowerCase() }).count('* as n').first()).toEqual({ n: '0' });
    expect(await r.env.db('address_freezes').where({ address: clinic.wallet.toLowerCase(), lifted_at: null }).first()).toMatchObject({
      role: 'settlement',
      invoice_id: null,
    });

    const walletBefore = await balanceOf(r.env, clinic.wallet);
    const invoice = await newInvoice(r.env, clinic, { amount: '15.00' });
    await pay(r.env, invoice.deposit_address, 15_000_000n);
    await settleAll(r.env);
    expect(await forwarded(invoice.id)).toEqual([]);
    expect(await balanceOf(r.env, invoice.deposit_address)).toBe(15_000_000n);

    await issuer('unfreeze', clinic.wallet);
    expect(await watchFreezes(deps())).toEqual({ frozen: 0, lifted: 1 });
    await settleAll(r.env);
    expect(await forwarded(invoice.id)).toHaveLength(1);
    expect(await balanceOf(r.env, clinic.wallet)).toBe(walletBefore + 15_000_000n);
  });
});
