/**
 * Trusting one RPC endpoint less: a node that is behind (a lagging node behind a load
 * balancer) is never taken for a reorg, and its empty answers never move the watcher's cursor
 * past blocks nobody has read; a backend that answers logs without the newest blocks' is read
 * again once they are final; the gateway refuses a node on another chain than CHAIN_ID.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeBehindError } from '../src/chain/blocks.js';
import { loadConfig } from '../src/platform/config.js';
import { waitFor } from '../src/platform/waitFor.js';
import { syncOnce } from '../src/settlement/watcher.js';
import { buildTestApp } from './support/app.js';
import {
  CONFIRMATIONS,
  cursorOf,
  entriesOf,
  expectLedgerInvariants,
  head,
  mine,
  newClinic,
  newInvoice,
  pay,
  type RpcProxy,
  readInvoice,
  type SettlementEnv,
  settle,
  startRpcProxy,
  startSettlementEnv,
  startWatcherHere,
  syncUntilCaughtUp,
  watcher,
} from './support/settlement.js';

let proxy: RpcProxy;
let env: SettlementEnv;

beforeAll(async () => {
  proxy = await startRpcProxy();
  env = await startSettlementEnv({ proxy });
});
afterAll(async () => {
  await env?.close();
  await proxy?.close();
});

const hex = (value: bigint) => `0x${value.toString(16)}`;

/** Makes the node behind the proxy pretend its head is `lastBlock`: no later block, no later log. */
function lagAt(lastBlock: bigint): void {
  proxy.rewrite = (method, params, result) => {
    if (method === 'eth_blockNumber') return hex(lastBlock);
    if (method === 'eth_getBlockByNumber' && typeof params[0] === 'string' && params[0].startsWith('0x') && BigInt(params[0]) > lastBlock) return null;
    if (method === 'eth_getLogs' && Array.isArray(result)) return result.filter((log) => BigInt((log as { blockNumber: string }).blockNumber) <= lastBlock);
    return result;
  };
}

describe('a node that is behind', () => {
  it('is no reorg: nothing is reversed, the pass waits, and everything goes on once the node catches up', async () => {
    await startWatcherHere(env);
    const clinic = await newClinic(env);
    const invoice = await newInvoice(env, clinic);
    const due = BigInt(invoice.token_amount_due);
    await pay(env, invoice.deposit_address, due);
    await settle(env);
    expect((await entriesOf(env.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    const cursor = (await cursorOf(env))!;

    // The node answers as if it stood CONFIRMATIONS + 2 blocks back: blocks the watcher read are "not found".
    lagAt(cursor - BigInt(CONFIRMATIONS) - 2n);
    await expect(syncOnce(watcher(env))).rejects.toBeInstanceOf(NodeBehindError);
    expect((await entriesOf(env.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'paid' });
    expect(await cursorOf(env)).toBe(cursor);

    proxy.rewrite = undefined;
    await mine(env, 2);
    const result = await syncUntilCaughtUp(watcher(env));
    expect(result.rolledBackTo).toBeUndefined();
    expect((await entriesOf(env.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    await expectLedgerInvariants(env);
  });

  it('whose logs come back empty for blocks it lacks does not move the cursor past them', async () => {
    const clinic = await newClinic(env);
    const invoice = await newInvoice(env, clinic);
    const due = BigInt(invoice.token_amount_due);
    await syncUntilCaughtUp(watcher(env));
    const cursor = (await cursorOf(env))!;
    const payment = await pay(env, invoice.deposit_address, due);
    await mine(env, 1);
    // A load balancer: the head comes from an up-to-date node, eth_getLogs and the next head
    // from one still at the cursor.
    let heads = 0;
    proxy.rewrite = (method, _params, result) => {
      if (method === 'eth_blockNumber') {
        heads += 1;
        return heads === 1 ? result : hex(cursor);
      }
      if (method === 'eth_getLogs' && Array.isArray(result)) return result.filter((log) => BigInt((log as { blockNumber: string }).blockNumber) <= cursor);
      return result;
    };
    await expect(syncOnce(watcher(env))).rejects.toBeInstanceOf(NodeBehindError);
    expect(await cursorOf(env)).toBe(cursor);

    proxy.rewrite = undefined;
    await syncUntilCaughtUp(watcher(env));
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'processing', token_amount_pending: due.toString() });
    expect(payment.blockNumber).toBeGreaterThan(cursor);
    await settle(env);
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'paid' });
    expect(await head(env)).toBeGreaterThan(cursor);
    await expectLedgerInvariants(env);
  });
});

describe('a backend that has not indexed the newest blocks yet', () => {
  it('simulator seed 2: answers eth_getLogs without their logs; each block is read again once final, and every payment is posted once', async () => {
    // Found by `npm run simulate -- --seeds 1,2,3,4,5,6 --steps 400` once the proxy answered as
    // such a backend does: the watcher read every block once, moved its cursor past the newest
    // block's missing logs, and never saw those payments (seed 2: 4,858,551,000 on the chain at a
    // deposit address the books held empty).
    await startWatcherHere(env);
    const clinic = await newClinic(env);
    const [older, newest, later] = [await newInvoice(env, clinic), await newInvoice(env, clinic), await newInvoice(env, clinic)];
    const due = (invoice: typeof older) => BigInt(invoice.token_amount_due);
    await pay(env, older.deposit_address, due(older));
    const hidden = await pay(env, newest.deposit_address, due(newest));
    // A partial answer: the older block's logs, not the newest block's.
    proxy.rewrite = (method, _params, result) =>
      method === 'eth_getLogs' && Array.isArray(result)
        ? result.filter((log) => BigInt((log as { blockNumber: string }).blockNumber) < hidden.blockNumber)
        : result;
    await syncUntilCaughtUp(watcher(env));
    expect(await cursorOf(env)).toBe(hidden.blockNumber);
    expect(await readInvoice(env, older.id)).toMatchObject({ status: 'processing' });
    expect(await readInvoice(env, newest.id)).toMatchObject({ status: 'open', token_amount_pending: '0' });

    // An empty answer for any range that reaches the newest block.
    const alsoHidden = await pay(env, later.deposit_address, due(later));
    proxy.rewrite = (method, params, result) =>
      method === 'eth_getLogs' && BigInt((params[0] as { toBlock: string }).toBlock) >= alsoHidden.blockNumber ? [] : result;
    await syncUntilCaughtUp(watcher(env));
    expect(await cursorOf(env)).toBe(alsoHidden.blockNumber);
    expect(await readInvoice(env, later.id)).toMatchObject({ status: 'open' });

    // Once the blocks are final, every backend has them: the second read finds both payments.
    proxy.rewrite = undefined;
    await settle(env);
    for (const invoice of [older, newest, later]) {
      expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'paid', token_amount_paid: due(invoice).toString() });
      expect((await entriesOf(env.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    }
    // Read again, nothing is stored or posted twice.
    await settle(env);
    for (const invoice of [older, newest, later]) expect((await entriesOf(env.db, invoice.id)).map((entry) => entry.kind)).toEqual(['payment']);
    await expectLedgerInvariants(env);
  });

  it('posts nothing before the block is read again, however final it is when first read past', async () => {
    await startWatcherHere(env);
    const clinic = await newClinic(env);
    const invoice = await newInvoice(env, clinic);
    const payment = await pay(env, invoice.deposit_address, BigInt(invoice.token_amount_due));
    // Read once while unconfirmed; then the node refuses eth_getLogs.
    await syncUntilCaughtUp(watcher(env));
    expect(await cursorOf(env)).toBe(payment.blockNumber);
    proxy.failing.add('eth_getLogs');
    await mine(env, CONFIRMATIONS + 2);
    await expect(syncOnce(watcher(env))).rejects.toThrow();
    // Final by depth, but not read again yet: pending, not posted.
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'processing' });
    expect(await entriesOf(env.db, invoice.id)).toEqual([]);
    proxy.failing.delete('eth_getLogs');
    await syncUntilCaughtUp(watcher(env));
    expect(await readInvoice(env, invoice.id)).toMatchObject({ status: 'paid' });
    await expectLedgerInvariants(env);
  });
});

describe('CHAIN_ID', () => {
  it('is read from the configuration, and /ready answers 503 when the node serves another chain', async () => {
    expect(loadConfig({ CHAIN_ID: '31337' }, '/tmp').chainId).toBe(31337);
    expect(() => loadConfig({ CHAIN_ID: 'mainnet' }, '/tmp')).toThrow(/CHAIN_ID/);
    const { app } = await buildTestApp({ db: env.db, rpcUrl: env.rpcUrl, network: env.network });
    expect((await request(app).get('/ready')).status).toBe(200);
    proxy.rewrite = (method, _params, result) => (method === 'eth_chainId' ? '0x1' : result);
    try {
      // /ready reuses its answer for READY_CACHE_MS: the other chain shows within a moment.
      const ready = await waitFor(
        async () => {
          const answer = await request(app).get('/ready');
          return answer.status === 503 && answer;
        },
        { what: '/ready to see the other chain', timeoutMs: 5000 },
      );
      expect(ready.status).toBe(503);
      expect(ready.body.detail).toMatch(/chain 1, not 31337/);
    } finally {
      proxy.rewrite = undefined;
    }
  });
});
