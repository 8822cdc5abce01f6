/**
 * The integration examples in `examples/`, run as a clinic's IT contractor runs them: each its own
 * process, against `clinicpay start` on embedded defaults (the README's two commands), with the
 * API keys and tokens `dev-stack.json` hands out. A dev payer pays on the dev chain; the gateway's
 * real dispatcher delivers the webhooks; the auditor's verifier checks the saved statement.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Address, createWalletClient, erc20Abi, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClinicPay } from '../client/src/index.js';
import type { DevStackFile } from '../src/dev/devStackFile.js';
import { waitFor } from '../src/platform/waitFor.js';
import { tempDir } from './support/gatewayHarness.js';
import { BIN, type GatewayProcess, spawnClinicpay, stopEmbeddedGateway, waitForDevStack } from './support/gatewayProcess.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

let dataDir: string;
let gateway: GatewayProcess;
let stack: DevStackFile;
const running: ChildProcess[] = [];

beforeAll(async () => {
  dataDir = tempDir('clinicpay-examples-', os.tmpdir());
  gateway = spawnClinicpay(['start'], { DATA_DIR: dataDir, PORT: '0', DEV_BLOCK_TIME_SECONDS: '1' });
  stack = await waitForDevStack(gateway, dataDir);
}, 120_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGTERM');
  if (gateway) await stopEmbeddedGateway(gateway, dataDir);
  fs.rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

interface Example {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

/** `examples/<file>` as its own process, as `npx tsx examples/<file>` runs it, with `env` as its only settings. */
function startExample(file: string, args: string[], env: Record<string, string>): Example {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join('examples', file), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), CLINICPAY_URL: stack.api_url, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

async function runExample(file: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const example = startExample(file, args, env);
  const code = await example.exited;
  return { code, stdout: example.stdout(), stderr: example.stderr() };
}

/** Today in Hong Kong, YYYY-MM-DD. */
function hongKongToday(): string {
  return new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
}

describe('examples/, run against `clinicpay start`', () => {
  it('createInvoice.ts bills a patient and prints the checkout link, which opens the patient’s page; bad input is refused and creates nothing', {
    timeout: 60_000,
  }, async () => {
    const auditor = new ClinicPay({ apiKey: stack.api_keys.auditor!, baseUrl: stack.api_url });
    const env = { CLINICPAY_API_KEY: stack.api_keys.clinic_staff! };

    const run = await runExample('createInvoice.ts', ['P-1001', 'Consultation', '350.00'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [, number, id] = /^Invoice (\d+) \((inv_[0-9a-f]{24})\) for HK\$350\.00, open$/m.exec(run.stdout) ?? [];
    const [, checkoutUrl] = /^Checkout: (http:\/\/\S+\/checkout\/[\w-]{43})$/m.exec(run.stdout) ?? [];
    expect(id, run.stdout).toBeDefined();
    expect(checkoutUrl, run.stdout).toBeDefined();
    const invoice = await auditor.invoices.retrieve(id!);
    expect(invoice).toMatchObject({ number: Number(number), patient_ref: 'P-1001', amount_due: '350.00', status: 'open', clinic_id: stack.demo_clinic_id });
    const page = await fetch(checkoutUrl!);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('350.00');

    const before = (await auditor.invoices.list({ limit: 100 })).data.length;
    const refused = await runExample('createInvoice.ts', ['P-1002', 'Consultation', '350.005'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^Refused: .*2\. \(invalid_request, line_items\[0\]\.unit_amount; request req_[0-9a-f]+\)$/m);
    expect((await auditor.invoices.list({ limit: 100 })).data.length).toBe(before);
  });

  it('webhookReceiver.ts checks signatures, handles each event once, and marks the bill paid when the patient pays', { timeout: 120_000 }, async () => {
    const clinicAdmin = new ClinicPay({ apiKey: stack.tokens.clinic_admin!, baseUrl: stack.api_url });
    const platformAdmin = new ClinicPay({ apiKey: stack.tokens.platform_admin!, baseUrl: stack.api_url });
    const frontDesk = new ClinicPay({ apiKey: stack.api_keys.clinic_staff!, baseUrl: stack.api_url });

    // The clinic's admin gets a fresh webhook secret (shown once) and the receiver is started with it.
    const { webhook_secret: secret } = await clinicAdmin.clinics.rotateWebhookSecret(stack.demo_clinic_id, { overlap_hours: 0 });
    expect(secret).toMatch(/^whsec_/);
    const receiver = startExample('webhookReceiver.ts', [], { CLINICPAY_WEBHOOK_SECRET: secret!, PORT: '0' });
    const url = await waitFor(() => /^listening on (http:\/\/\S+)$/m.exec(receiver.stdout())?.[1], {
      what: `the receiver to listen (stderr: ${receiver.stderr()})`,
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    await platformAdmin.clinics.update(stack.demo_clinic_id, { webhook_url: url });

    // A delivery not signed with the clinic's secret is refused and changes nothing.
    const forged = JSON.stringify({ id: 'evt_000000000000000000000000', type: 'invoice.paid', created: Math.floor(Date.now() / 1000), data: { id: 'inv_x' } });
    const forgedAnswer = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'ClinicPay-Signature': await ClinicPay.webhooks.signPayload(forged, 'whsec_not_the_secret') },
      body: forged,
    });
    expect(forgedAnswer.status).toBe(400);
    await waitFor(() => receiver.stdout().includes('refused a delivery: no_matching_signature'), { what: 'the refusal to be logged', timeoutMs: 5_000 });

    // The front desk bills; a dev payer pays the exact amount from a wallet of their own.
    const invoice = await frontDesk.invoices.create({
      patient_ref: 'P-2001',
      currency: 'HKD',
      line_items: [{ description: 'Physiotherapy', quantity: 2, unit_amount: '420.00' }],
    });
    const payer = createWalletClient({
      account: privateKeyToAccount(stack.payers[0]!.private_key),
      chain: { ...foundry, id: stack.chain_id },
      transport: http(stack.rpc_url),
    });
    await payer.writeContract({
      address: invoice.token.address as Address,
      abi: erc20Abi,
      functionName: 'transfer',
      args: [invoice.deposit_address as Address, BigInt(invoice.token_amount_due)],
    });
    const paidLine = `invoice.paid: bill for invoice ${invoice.number} (${invoice.id}) marked paid, HK$840.00`;
    await waitFor(() => receiver.stdout().includes(paidLine), {
      what: `"${paidLine}" (receiver said: ${receiver.stdout()})`,
      timeoutMs: 90_000,
      intervalMs: 200,
    });

    // Delivered twice (a redelivery has the same event id): handled once.
    let paidEvent: string | undefined;
    for await (const event of clinicAdmin.events.list({ type: 'invoice.paid', limit: 10 })) {
      if ((event.data as { id?: string }).id === invoice.id) paidEvent = event.id;
    }
    expect(paidEvent).toBeDefined();
    await clinicAdmin.events.redeliver(paidEvent!);
    await waitFor(() => receiver.stdout().includes(`${paidEvent} invoice.paid: already handled`), {
      what: 'the redelivery to arrive',
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(receiver.stdout().split(paidLine).length - 1).toBe(1);
    expect((await clinicAdmin.events.retrieve(paidEvent!)).status).toBe('delivered');
    receiver.child.kill('SIGTERM');
  });

  it('nightlyStatement.ts saves the day’s statement as JSON, PDF and CSV, and the JSON passes the auditor’s verifier', { timeout: 60_000 }, async () => {
    const folder = tempDir('clinicpay-statements-', os.tmpdir());
    try {
      const day = hongKongToday();
      const run = await runExample('nightlyStatement.ts', [day, folder], {
        CLINICPAY_API_KEY: stack.api_keys.auditor!,
        CLINICPAY_CLINIC_ID: stack.demo_clinic_id,
      });
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const base = path.join(folder, `statement-${day}`);
      const statement = JSON.parse(fs.readFileSync(`${base}.json`, 'utf8')) as { lines: unknown[]; merkle_root: string; line_count: number };
      expect(run.stdout).toContain(`${day}: ${statement.lines.length} lines, root ${statement.merkle_root}`);
      expect(statement.line_count).toBe(statement.lines.length);
      expect(fs.readFileSync(`${base}.pdf`).subarray(0, 5).toString()).toBe('%PDF-');
      const csv = fs.readFileSync(`${base}.csv`, 'utf8').trim().split('\n');
      expect(csv.length).toBeGreaterThan(statement.lines.length);
      // The auditor's check, without trusting the gateway: the lines, their root, and each line against the chain.
      const verified = spawnSync(process.execPath, [BIN, 'verify', `${base}.json`, '--rpc', stack.rpc_url], { cwd: ROOT, encoding: 'utf8' });
      expect(verified.status, `${verified.stdout}${verified.stderr}`).toBe(0);
    } finally {
      fs.rmSync(folder, { recursive: true, force: true });
    }
  });
});
