/**
 * An on-chain sanctions oracle (Chainalysis's `isSanctioned` interface, the project's test
 * contract) on anvil, with a JSON-RPC proxy that can make it unreachable: every payer is asked
 * about at the payment's block; a "yes" holds the payment like a list match; no answer holds it
 * pending screening (never released unscreened, and /ready says so) until the oracle answers,
 * and then the gateway releases or queues it by itself.
 */
import type { Express } from 'express';
import request from 'supertest';
import { type Address, getAddress } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSanctionsOracleAbi, testSanctionsOracleBytecode } from '../contracts/artifacts/TestSanctionsOracle.js';
import { createChainClient } from '../src/chain/client.js';
import { loadPaymentNetwork, TokenPinError } from '../src/chain/paymentNetwork.js';
import { createLogger } from '../src/platform/log.js';
import { waitFor } from '../src/platform/waitFor.js';
import { rescreenPending } from '../src/settlement/pendingScreening.js';
import type { WatcherDeps } from '../src/settlement/watcher.js';
import { buildTestApp } from './support/app.js';
import { clinicWithWallet, exceptionOf, FINANCE_A, get, type ReconEnv, reconcile, settleAll, startReconEnv } from './support/recon.js';
import {
  balanceOf,
  newInvoice,
  pay,
  type RpcProxy,
  readInvoice,
  settle,
  startRpcProxy,
  type TestClinic,
  transfersOf,
  watcher,
  webhookEvents,
} from './support/settlement.js';

describe('the sanctions oracle', () => {
  let proxy: RpcProxy;
  let r: ReconEnv;
  let app: Express;
  let clinic: TestClinic;
  let oracle: Address;
  let deps: WatcherDeps;

  beforeAll(async () => {
    proxy = await startRpcProxy();
    r = await startReconEnv({ proxy });
    clinic = await clinicWithWallet(r.env);
    const hash = await r.env.owner.wallet.deployContract({ abi: testSanctionsOracleAbi, bytecode: testSanctionsOracleBytecode, args: [r.env.owner.address] });
    oracle = (await r.env.chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })).contractAddress!;
    deps = watcher(r.env, { sanctionsOracle: oracle });
    ({ app } = await buildTestApp({ db: r.env.db, rpcUrl: proxy.url, network: { ...r.env.network, sanctionsOracle: oracle } }));
  }, 120_000);
  afterAll(async () => {
    await r?.env.close();
    await proxy?.close();
  });

  const sanctions = async (functionName: 'addToSanctionsList' | 'removeFromSanctionsList', address: Address) => {
    const hash = await r.env.owner.wallet.writeContract({ address: oracle, abi: testSanctionsOracleAbi, functionName, args: [[address]] });
    expect((await r.env.chain.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 50 })).status).toBe('success');
  };
  const paymentOf = async (invoiceId: string) => (await transfersOf(r.env.db, invoiceId)).find((transfer) => transfer.kind === 'payment')!;
  const holdOf = (invoiceId: string) => r.env.db('payment_holds').where({ invoice_id: invoiceId }).first();

  it('is checked at start: an address without the interface is refused', async () => {
    const chain = createChainClient({ rpcUrl: r.env.anvil.rpcUrl, timeoutMs: 5000 });
    const network = await loadPaymentNetwork({ chain, tokens: r.env.token, factory: r.env.factory, sanctionsOracle: oracle, timeoutMs: 5000 });
    expect(network.sanctionsOracle).toBe(getAddress(oracle));
    const refused = await loadPaymentNetwork({ chain, tokens: r.env.token, factory: r.env.factory, sanctionsOracle: r.env.token, timeoutMs: 5000 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(TokenPinError);
    expect((refused as Error).message).toMatch(/does not answer isSanctioned/);
  });

  it('a payer it does not list goes through, and the evidence carries its "no" at the payment\'s block', async () => {
    const invoice = await newInvoice(r.env, clinic, { amount: '10.00' });
    const payment = await pay(r.env, invoice.deposit_address, 10_000_000n);
    await settle(r.env, deps);
    expect((await readInvoice(r.env, invoice.id)).status).toBe('paid');
    expect(await holdOf(invoice.id)).toBeUndefined();
    const evidence = await get(app, FINANCE_A, `/v1/payments/${(await paymentOf(invoice.id)).id}/evidence`);
    expect(evidence.status, evidence.text).toBe(200);
    expect(evidence.body.oracle).toEqual({ oracle: oracle.toLowerCase(), block: payment.blockNumber.toString(), answer: false, error: null });
    expect(evidence.body.screening).toEqual([expect.objectContaining({ result: 'clear' })]);
  });

  it("a payer it listed at the payment's block is held, even if taken off the list before the payment is final", async () => {
    await sanctions('addToSanctionsList', r.env.payer.address);
    const invoice = await newInvoice(r.env, clinic, { amount: '11.00' });
    const payment = await pay(r.env, invoice.deposit_address, 11_000_000n);
    await sanctions('removeFromSanctionsList', r.env.payer.address);
    await settle(r.env, deps);
    expect((await readInvoice(r.env, invoice.id)).status).toBe('paid');
    const hold = await holdOf(invoice.id);
    expect(hold).toMatchObject({ status: 'held', reason: 'screening_hit' });
    expect(hold.hits).toEqual([
      expect.objectContaining({ list: 'sanctions-oracle', version: oracle.toLowerCase(), reference: `isSanctioned at block ${payment.blockNumber}` }),
    ]);
    expect((await reconcile(app)).status).toBe('completed');
    expect((await exceptionOf(app, 'screening_hit', invoice.id)).details).toMatchObject({ hold_id: hold.id });
  });

  it('unreachable: payments are credited but held pending screening, /ready says so, and once it answers they are released', async () => {
    proxy.failing.add('eth_call');
    const invoice = await newInvoice(r.env, clinic, { amount: '12.00' });
    await pay(r.env, invoice.deposit_address, 12_000_000n);
    await settle(r.env, deps);
    expect((await readInvoice(r.env, invoice.id)).status).toBe('paid');
    expect(await holdOf(invoice.id)).toMatchObject({ status: 'held', reason: 'screening_pending' });
    expect((await webhookEvents(r.env.db, clinic.id, 'payment.held')).at(-1)!.object).toMatchObject({ hold: { reason: 'screening_pending' } });
    const ready = await request(app).get('/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.screening).toMatchObject({ oracle: { ok: false }, held_pending_screening: 1 });

    // Still no answer: it waits; nothing is forwarded and finance's queue has nothing to decide.
    const quiet = createLogger('silent');
    expect(await rescreenPending({ db: r.env.db, chain: r.env.client, logger: quiet, sanctionsOracle: oracle })).toEqual({ cleared: 0, listed: 0, waiting: 1 });
    expect(await balanceOf(r.env, invoice.deposit_address)).toBe(12_000_000n);
    proxy.failing.delete('eth_call');

    // It answers "no" (at the payment's block): released by the screening, and forwarded.
    expect(await rescreenPending({ db: r.env.db, chain: r.env.client, logger: quiet, sanctionsOracle: oracle })).toEqual({ cleared: 1, listed: 0, waiting: 0 });
    expect(await holdOf(invoice.id)).toMatchObject({ status: 'released', decided_by: 'system:watcher' });
    await settleAll(r.env);
    expect((await transfersOf(r.env.db, invoice.id)).filter((transfer) => transfer.kind === 'forward')).toHaveLength(1);
    const evidence = await get(app, FINANCE_A, `/v1/payments/${(await paymentOf(invoice.id)).id}/evidence`);
    expect(evidence.body.screening.map((screening: { result: string }) => screening.result)).toEqual(['unscreened', 'clear']);
    expect(evidence.body.audit.map((row: { action: string }) => row.action)).toContain('payment.screened_clear');
    // /ready answers from a one-second cache: the next fresh answer says the oracle is back.
    const recovered = await waitFor(
      async () => {
        const body = (await request(app).get('/ready')).body as { screening: { oracle: { ok: boolean }; held_pending_screening: number } };
        return body.screening.oracle.ok ? body.screening : undefined;
      },
      { what: '/ready to report the oracle answering', timeoutMs: 10_000, intervalMs: 200 },
    );
    expect(recovered.held_pending_screening).toBe(0);
  });
});
