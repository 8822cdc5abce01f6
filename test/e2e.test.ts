/**
 * The Settlement issue's "Done when", through the real process on embedded defaults:
 * `clinicpay start` runs its own Postgres and anvil (a block a second); a clinic is onboarded
 * through the API with a webhook receiver of the test's own; a dev payer pays an invoice with a
 * plain ERC-20 transfer; the invoice becomes `paid` after the configured confirmations, signed
 * webhooks arrive, the funds end at the clinic's settlement address, the ledger balances, and
 * SIGTERM stops everything with exit status 0.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { type Address, createPublicClient, createWalletClient, erc20Abi, http } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevStackFile } from '../src/dev/devStackFile.js';
import { createDb } from '../src/platform/db.js';
import { waitFor } from '../src/platform/waitFor.js';
import { verifyWebhookSignature, WEBHOOK_SIGNATURE_HEADER } from '../src/webhooks/signature.js';
import { clinicBalances, stopGatewayProcess, tempDir, unbalancedEntries, WebhookReceiver } from './support/gatewayHarness.js';
import { type GatewayProcess, spawnClinicpay, stopEmbeddedGateway, waitForDevStack } from './support/gatewayProcess.js';
import { browse, CookieJar, follow } from './support/signIn.js';

let dataDir: string;
const receiver = new WebhookReceiver();

beforeAll(async () => {
  dataDir = tempDir('clinicpay-e2e-', os.tmpdir());
  await receiver.start();
});

afterAll(async () => {
  await receiver.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

interface Invoice {
  id: string;
  status: string;
  deposit_address: Address;
  token_amount_due: string;
  token_amount_paid: string;
  token: { address: Address };
  payments: ChainTransfer[];
  forwarding: ChainTransfer[];
}

interface ChainTransfer {
  tx_hash: string;
  log_index: number;
  block_number: number;
  confirmations: number;
  amount: string;
  status: string;
}

interface LedgerEntry {
  id: string;
  kind: string;
  clinic_id: string;
  postings: { account: string; asset: string; amount: string }[];
}

async function api<T>(stack: DevStackFile, token: string, method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${stack.api_url}${route}`, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json', 'Idempotency-Key': randomUUID() }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** Every ledger entry through `GET /v1/ledger/entries`, or `undefined` when the route does not exist yet. */
async function ledgerEntriesThroughApi(stack: DevStackFile, token: string): Promise<LedgerEntry[] | undefined> {
  const entries: LedgerEntry[] = [];
  let after: string | undefined;
  for (let page = 0; page < 100; page++) {
    const { status, body } = await api<{ data: LedgerEntry[]; has_more: boolean }>(
      stack,
      token,
      'GET',
      `/v1/ledger/entries?limit=100${after ? `&starting_after=${after}` : ''}`,
    );
    if (status === 404 && page === 0) return undefined;
    expect(status).toBe(200);
    entries.push(...body.data);
    if (!body.has_more) return entries;
    after = body.data[body.data.length - 1]!.id;
  }
  throw new Error('more than 100 pages of ledger entries');
}

describe('a patient pays an invoice on the dev chain, end to end through `clinicpay start`', () => {
  it('the invoice is paid after the confirmations, signed webhooks arrive, the clinic holds the funds, the ledger balances', { timeout: 240_000 }, async () => {
    const gateway: GatewayProcess = spawnClinicpay(['start'], { DATA_DIR: dataDir, PORT: '0', DEV_BLOCK_TIME_SECONDS: '1', LOG_LEVEL: 'info' });
    try {
      const stack = await waitForDevStack(gateway, dataDir);
      // People sign in at /console through the dev identity provider, with the logins the file lists.
      expect(stack.people.map((person) => person.role).sort()).toEqual([
        'auditor',
        'clinic_admin',
        'clinic_staff',
        'finance',
        'finance',
        'platform_admin',
        'platform_admin',
      ]);
      expect(stack.identity_provider_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const finance2 = stack.people.find((person) => person.username === 'finance2')!;
      const jar = new CookieJar();
      expect((await follow(jar, `${stack.api_url}/console`)).url.pathname).toBe('/auth/sign-in');
      const loginPage = await follow(jar, `${stack.api_url}/auth/login?return_to=%2Fconsole`);
      expect(loginPage.url.origin).toBe(stack.identity_provider_url);
      const submitted = await browse(jar, new URL(`${loginPage.url.pathname}/login`, loginPage.url), {
        method: 'POST',
        form: { username: finance2.username, password: finance2.password },
      });
      const consolePage = await follow(jar, submitted.location!);
      expect(consolePage.url.toString()).toBe(`${stack.api_url}/console`);
      expect(consolePage.body).toContain('data-role="finance"');

      const chain = createPublicClient({ chain: foundry, transport: http(stack.rpc_url) });
      const token = stack.token.address;
      const balanceOf = (holder: Address) => chain.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [holder] });

      // A new clinic whose webhooks go to the test's receiver, settling to a fresh address.
      const settlementAddress = privateKeyToAccount(generatePrivateKey()).address;
      const clinicResponse = await api<{ id: string; webhook_secret: string }>(stack, stack.tokens.platform_admin!, 'POST', '/v1/clinics', {
        name: 'Harbour View Medical Centre',
        settlement_address: settlementAddress,
        webhook_url: receiver.url,
      });
      expect(clinicResponse.status).toBe(201);
      const clinic = clinicResponse.body;
      expect(clinic.webhook_secret).toMatch(/^whsec_/);

      // Its admin's token, from the CLI with the same DATA_DIR (so the same dev JWT secret).
      const tokenCommand = spawnClinicpay(['token', '--role', 'clinic_admin', '--clinic', clinic.id], { DATA_DIR: dataDir });
      expect(await tokenCommand.exited).toBe(0);
      const clinicAdmin = tokenCommand.output().trim();
      expect(clinicAdmin).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

      const description = 'Cardiology follow-up: atrial fibrillation, warfarin review';
      const created = await api<Invoice>(stack, clinicAdmin, 'POST', '/v1/invoices', {
        patient_ref: 'MRN-77120',
        currency: 'HKD',
        line_items: [{ description, quantity: 1, unit_amount: '1280.00' }],
      });
      expect(created.status).toBe(201);
      const invoice = created.body;
      expect(invoice.token.address).toBe(token);
      const amount = BigInt(invoice.token_amount_due);
      expect(amount).toBe(1_280_000_000n);

      // A dev payer pays exactly, with a plain ERC-20 transfer to the deposit address.
      const payer = createWalletClient({ account: privateKeyToAccount(stack.payers[0]!.private_key), chain: foundry, transport: http(stack.rpc_url) });
      const payerBefore = await balanceOf(payer.account.address);
      const paymentHash = await payer.writeContract({ address: token, abi: erc20Abi, functionName: 'transfer', args: [invoice.deposit_address, amount] });
      const receipt = await chain.waitForTransactionReceipt({ hash: paymentHash, pollingInterval: 200 });
      expect(receipt.status).toBe('success');
      expect(await balanceOf(payer.account.address)).toBe(payerBefore - amount);

      // Paid after the confirmations; every status the API showed on the way is kept.
      const statusesSeen: string[] = [];
      const paid = await waitFor(
        async () => {
          const { status, body } = await api<Invoice>(stack, clinicAdmin, 'GET', `/v1/invoices/${invoice.id}`);
          expect(status).toBe(200);
          if (statusesSeen.at(-1) !== body.status) statusesSeen.push(body.status);
          return body.status === 'paid' ? body : undefined;
        },
        { what: 'the invoice to be paid', timeoutMs: 60_000, intervalMs: 100 },
      );
      expect(paid.token_amount_paid).toBe(amount.toString());
      expect(paid.payments).toEqual([
        {
          tx_hash: paymentHash,
          log_index: expect.any(Number),
          block_number: Number(receipt.blockNumber),
          confirmations: expect.any(Number),
          token,
          amount: amount.toString(),
          status: 'confirmed',
          flag: null,
        },
      ]);
      expect(paid.payments[0]!.confirmations).toBeGreaterThanOrEqual(stack.confirmations);
      const paidAtBlock = await chain.getBlockNumber({ cacheTime: 0 });
      expect(paidAtBlock - receipt.blockNumber + 1n).toBeGreaterThanOrEqual(BigInt(stack.confirmations));

      // Signed webhooks: `invoice.paid` for this invoice, `invoice.processing` (or the status seen) before it.
      const paidHook = await waitFor(() => receiver.ofType('invoice.paid').find((hook) => hook.event.data.id === invoice.id), {
        what: 'the invoice.paid webhook',
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      expect(paidHook.event.data).toMatchObject({ id: invoice.id, status: 'paid', token_amount_paid: amount.toString() });
      const processingHook = receiver.ofType('invoice.processing').find((hook) => hook.event.data.id === invoice.id);
      expect(statusesSeen.includes('processing') || processingHook !== undefined, `statuses seen: ${statusesSeen.join(' → ')}`).toBe(true);
      if (processingHook) expect(receiver.received.indexOf(processingHook)).toBeLessThan(receiver.received.indexOf(paidHook));

      // The funds reach the clinic's own wallet; the deposit address is left empty.
      await waitFor(async () => (await balanceOf(settlementAddress)) === amount && (await balanceOf(invoice.deposit_address)) === 0n, {
        what: 'the funds to be forwarded to the settlement address',
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      const forwardedHook = await waitFor(() => receiver.ofType('settlement.forwarded').find((hook) => hook.event.data.id === invoice.id), {
        what: 'the settlement.forwarded webhook',
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      expect(forwardedHook.event.data.forwarding).toMatchObject({ amount: amount.toString() });
      const swept = await api<Invoice>(stack, clinicAdmin, 'GET', `/v1/invoices/${invoice.id}`);
      expect(swept.body.forwarding).toEqual([expect.objectContaining({ amount: amount.toString(), status: 'confirmed' })]);

      // Every webhook is signed with the clinic's secret, has an id, and carries no line-item text.
      expect(receiver.received.length).toBeGreaterThanOrEqual(2);
      for (const hook of receiver.received) {
        const header = hook.headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()];
        expect(
          verifyWebhookSignature({
            header: typeof header === 'string' ? header : undefined,
            rawBody: hook.rawBody,
            secret: clinic.webhook_secret,
            now: hook.receivedAt,
          }),
        ).toMatchObject({ valid: true });
        expect(
          verifyWebhookSignature({ header: typeof header === 'string' ? header : undefined, rawBody: hook.rawBody, secret: 'whsec_someone_else' }),
        ).toMatchObject({ valid: false });
        expect(hook.event.id).toMatch(/^evt_/);
        expect(hook.rawBody).not.toContain(description);
        expect(hook.rawBody).not.toContain('"description"');
      }
      expect(new Set(receiver.received.map((hook) => hook.event.id)).size).toBe(receiver.received.length);

      // The ledger: through the API when the route exists, and always straight from the database.
      const viaApi = await ledgerEntriesThroughApi(stack, stack.tokens.finance!);
      if (viaApi !== undefined) {
        expect(viaApi.length).toBeGreaterThanOrEqual(2);
        for (const entry of viaApi) {
          const sums = new Map<string, bigint>();
          for (const posting of entry.postings) sums.set(posting.asset, (sums.get(posting.asset) ?? 0n) + BigInt(posting.amount));
          for (const [asset, sum] of sums) expect(sum, `entry ${entry.id} in ${asset}`).toBe(0n);
        }
        const ours = viaApi.filter((entry) => entry.clinic_id === clinic.id);
        expect(ours.map((entry) => entry.kind).sort()).toEqual(['forward', 'payment']);
        for (const entry of ours) expect(entry.postings.map((posting) => BigInt(posting.amount)).sort()).toEqual([-amount, amount]);
      }
      const db = createDb({ connectionString: stack.database_url, poolMax: 1 });
      try {
        expect(await unbalancedEntries(db)).toEqual([]);
        // The forward entry may trail the on-chain balance by the confirmations.
        const balances = await waitFor(
          async () => {
            const now = await clinicBalances(db, clinic.id);
            return now.settlement === amount ? now : undefined;
          },
          { what: 'the forward to be posted', timeoutMs: 30_000, intervalMs: 200 },
        );
        expect(balances).toEqual({ deposits: 0n, settlement: amount, patient_payments: -amount });
        const entries = (await db('journal_entries').where({ clinic_id: clinic.id }).orderBy('created_at').select('kind')) as { kind: string }[];
        expect(entries.map((entry) => entry.kind)).toEqual(['payment', 'forward']);
      } finally {
        await db.destroy();
      }

      // The dev stack accepts a second HKD token from a second test issuer (18 decimals); the dev
      // payers hold it. An invoice paid in it is credited at par and forwarded as that token.
      expect(stack.accepted_tokens.map(({ symbol, decimals, issuer }) => ({ symbol, decimals, issuer }))).toEqual([
        { symbol: 'tHKD', decimals: 6, issuer: 'Harbour Test Issuer Ltd (dev)' },
        { symbol: 'tHKDB', decimals: 18, issuer: 'Lion Rock Test Issuer Ltd (dev)' },
      ]);
      // Every payer is also screened by the dev stack's sanctions oracle, which lists nobody.
      expect(stack.sanctions_oracle).toMatch(/^0x[0-9a-fA-F]{40}$/);
      const second = stack.accepted_tokens[1]!.address;
      const balanceIn = (holder: Address) => chain.readContract({ address: second, abi: erc20Abi, functionName: 'balanceOf', args: [holder] });
      expect(await balanceIn(payer.account.address)).toBeGreaterThan(0n);
      const inSecond = await api<Invoice & { payment_options: { token: { address: string }; token_amount_due: string }[] }>(
        stack,
        clinicAdmin,
        'POST',
        '/v1/invoices',
        { patient_ref: 'MRN-77121', currency: 'HKD', line_items: [{ description: 'Dressing change', quantity: 1, unit_amount: '250.00' }] },
      );
      expect(inSecond.status).toBe(201);
      const option = inSecond.body.payment_options.find((candidate) => candidate.token.address === second)!;
      expect(option.token_amount_due).toBe('250000000000000000000');
      const secondHash = await payer.writeContract({
        address: second,
        abi: erc20Abi,
        functionName: 'transfer',
        args: [inSecond.body.deposit_address, BigInt(option.token_amount_due)],
      });
      expect((await chain.waitForTransactionReceipt({ hash: secondHash, pollingInterval: 200 })).status).toBe('success');
      await waitFor(
        async () => (await balanceIn(settlementAddress)) === BigInt(option.token_amount_due) && (await balanceIn(inSecond.body.deposit_address)) === 0n,
        {
          what: 'the second token to be credited and forwarded to the settlement address',
          timeoutMs: 60_000,
          intervalMs: 200,
        },
      );
      const paidInSecond = await api<Invoice>(stack, clinicAdmin, 'GET', `/v1/invoices/${inSecond.body.id}`);
      expect(paidInSecond.body).toMatchObject({ status: 'paid', amount_paid: '250.00', token_amount_paid: '250000000' });

      expect(await stopGatewayProcess(gateway, 'SIGTERM')).toBe(0);
    } finally {
      await stopEmbeddedGateway(gateway, dataDir);
    }
  });
});
