/**
 * Retention, through the real CLI on a real database: records backdated past RETENTION_YEARS
 * are listed exactly by `retention --dry-run` (which changes nothing), and erased by a run —
 * travel-rule records by destroying their keys, patient references taken out of stored webhook
 * payloads — while recent ones, the ledger and the audit chain stay as they were. Fewer than
 * five years is refused.
 */
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditLog } from '../src/audit/auditLog.js';
import { createClinic } from '../src/billing/clinics.js';
import { createInvoice } from '../src/billing/invoices.js';
import { captureTravelRule, travelRuleRecordOf, travelRuleTypedData } from '../src/compliance/travelRule.js';
import { withTransaction } from '../src/platform/transaction.js';
import { enqueueWebhookEvent } from '../src/webhooks/outbox.js';
import { TEST_ACTOR, TEST_SECRETS, testNetwork } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';
import { spawnClinicpay } from './support/gatewayProcess.js';

let database: TestDatabase;
const YEAR_MS = 365.25 * 86_400_000;

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.close();
});

async function retention(args: string[], env: Record<string, string> = {}) {
  const run = spawnClinicpay(['retention', ...args], { DATABASE_URL: database.url, RETENTION_YEARS: '5', ...env });
  return { code: await run.exited, output: run.output() };
}

describe('retention of personal data', () => {
  it('lists exactly what is past the period, erases it by destroying keys, and leaves everything else as it was', async () => {
    const { db } = database;
    const network = await testNetwork();
    const clinic = await withTransaction(db, (trx) =>
      createClinic(trx, TEST_ACTOR, {
        name: 'Harbour Clinic',
        settlementAddress: privateKeyToAccount(generatePrivateKey()).address,
        webhookUrl: undefined,
        webhookIncludePatientRef: true,
        secrets: TEST_SECRETS,
      }),
    );
    // Three travel-rule records (two backdated past five years) and three events with a patient reference (one backdated).
    const records: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      const invoice = await withTransaction(db, (trx) =>
        createInvoice(trx, {
          clinicId: clinic.id,
          input: { patient_ref: `P-${index}`, currency: 'HKD', line_items: [{ description: 'Surgery', quantity: 1, unit_amount: '9000.00' }] },
          network,
          actor: TEST_ACTOR,
          travelRuleThresholdHkd: '8000',
        }),
      );
      const payer = privateKeyToAccount(generatePrivateKey());
      const signature = await payer.signTypedData(travelRuleTypedData(network.chainId, invoice.id, payer.address));
      await withTransaction(db, (trx) =>
        captureTravelRule(trx, TEST_SECRETS, TEST_ACTOR, {
          invoiceId: invoice.id,
          clinicId: clinic.id,
          chainId: network.chainId,
          payer: payer.address,
          signature,
          input: {
            fullName: `Payer ${index}`,
            identification: { type: 'CCPT', number: `K00000${index}`, country: 'HK' },
            birth: null,
            address: { line: '1 Queen’s Road', town: 'Hong Kong', country: 'HK' },
          },
        }).then(() => undefined),
      );
      records.push(((await db('travel_rule_records').where({ invoice_id: invoice.id }).first('id')) as { id: string }).id);
    }
    const events: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      events.push(
        await withTransaction(db, (trx) =>
          enqueueWebhookEvent(trx, { clinicId: clinic.id, type: 'invoice.paid', data: { object: 'invoice', id: `inv_${index}`, patient_ref: `P-${index}` } }),
        ),
      );
    }
    const now = Date.now();
    await db('travel_rule_records')
      .whereIn('id', records.slice(0, 2))
      .update({ captured_at: new Date(now - 5 * YEAR_MS - 86_400_000) });
    await db('travel_rule_records')
      .where({ id: records[2] })
      .update({ captured_at: new Date(now - 4 * YEAR_MS) });
    await db('webhook_events')
      .where({ id: events[0] })
      .update({ created_at: new Date(now - 6 * YEAR_MS) });
    const ledgerBefore = await db('postings').count('* as n').first();

    // The dry run lists exactly the three items past the period, and changes nothing.
    const dry = await retention(['--dry-run']);
    expect(dry.code, dry.output).toBe(0);
    const listed = dry.output.split('\n').filter((line) => line.startsWith('would erase'));
    expect(listed.map((line) => line.split(' ')[3]).sort()).toEqual([records[0], records[1], events[0]].sort());
    expect(dry.output).toMatch(/3 item\(s\) would be erased; nothing was changed/);
    expect(await db('travel_rule_records').whereNotNull('erased_at').count('* as n').first()).toEqual({ n: '0' });
    expect(await (await audited(db))('audit_log').where({ action: 'retention.dry_run' }).count('* as n').first()).toEqual({ n: '1' });

    // The run erases them: the keys are gone (the sealed text stays, unreadable), the reference is out of the payload.
    const run = await retention([]);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/3 item\(s\) erased/);
    for (const id of records.slice(0, 2)) {
      const row = await db('travel_rule_records').where({ id }).first();
      expect(row).toMatchObject({ wrapped_key: null, erased_at: expect.any(Date) });
      expect(row.ciphertext).toMatch(/^v1\./);
      expect((await travelRuleRecordOf(db, TEST_SECRETS, row.invoice_id))!.data).toBeNull();
    }
    const kept = (await db('travel_rule_records').where({ id: records[2] }).first()) as { invoice_id: string };
    expect((await travelRuleRecordOf(db, TEST_SECRETS, kept.invoice_id))!.data).toMatchObject({ fullName: 'Payer 2' });
    const payloads = new Map(
      ((await db('webhook_events').whereIn('id', events).select('id', 'payload')) as { id: string; payload: { object: Record<string, unknown> } }[]).map(
        (row) => [row.id, row.payload.object],
      ),
    );
    expect(payloads.get(events[0]!)).not.toHaveProperty('patient_ref');
    expect(payloads.get(events[0]!)).toMatchObject({ id: 'inv_0' });
    expect(payloads.get(events[1]!)).toHaveProperty('patient_ref', 'P-1');

    // Nothing financial moved, the audit chain still verifies, and a second run finds nothing.
    expect(await db('postings').count('* as n').first()).toEqual(ledgerBefore);
    expect((await verifyAuditLog(db)).ok).toBe(true);
    expect((await retention(['--dry-run'])).output).toMatch(/0 item\(s\) would be erased/);
  });

  it('refuses fewer than five years, and an unknown option, changing nothing', async () => {
    const short = await retention(['--dry-run'], { RETENTION_YEARS: '4' });
    expect(short.code).not.toBe(0);
    expect(short.output).toMatch(/RETENTION_YEARS/);
    const unknown = await retention(['--everything']);
    expect(unknown.code).toBe(2);
  });
});
