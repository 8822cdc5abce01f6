/**
 * Erasing personal data past its retention period (RETENTION_YEARS, at least five). Nothing
 * financial is ever deleted: invoices, transfers, the ledger, the audit chain and statements
 * stay as they are, and stay verifiable. What is erased:
 * - travel-rule records captured before the cutoff, by destroying their data keys
 *   (crypto-shredding: the sealed information stays and nothing opens it again);
 * - patient references in webhook payloads stored before the cutoff (clinics that opted in to
 *   receiving them), taken out of the stored payload.
 * `npx clinicpay retention --dry-run` lists exactly what a run would erase; every run, dry or
 * not, is audited with what it found (ids only).
 */
import { type AuditActor, appendAudit } from './audit/auditLog.js';
import { eraseTravelRuleRecords, travelRuleRecordsBefore } from './compliance/travelRule.js';
import type { Db } from './platform/db.js';
import { withTransaction } from './platform/transaction.js';
import { erasePatientRefs, webhookEventsWithPatientRefBefore } from './webhooks/outbox.js';

export interface RetentionItem {
  kind: 'travel_rule_record' | 'webhook_patient_ref';
  id: string;
  clinic_id: string;
  /** When the data was taken: captured or stored. */
  at: Date;
  /** The invoice a travel-rule record belongs to. */
  invoice_id?: string;
}

export interface RetentionPlan {
  years: number;
  cutoff: Date;
  items: RetentionItem[];
}

/** The moment `years` calendar years before `now`: data taken before it is past retention. */
export function retentionCutoff(years: number, now: Date): Date {
  const cutoff = new Date(now);
  cutoff.setUTCFullYear(cutoff.getUTCFullYear() - years);
  return cutoff;
}

/** What a retention run at `now` would erase. */
export async function retentionPlan(db: Db, years: number, now = new Date()): Promise<RetentionPlan> {
  const cutoff = retentionCutoff(years, now);
  const [records, events] = await Promise.all([travelRuleRecordsBefore(db, cutoff), webhookEventsWithPatientRefBefore(db, cutoff)]);
  return {
    years,
    cutoff,
    items: [
      ...records.map((record) => ({
        kind: 'travel_rule_record' as const,
        id: record.id,
        clinic_id: record.clinic_id,
        at: record.captured_at,
        invoice_id: record.invoice_id,
      })),
      ...events.map((event) => ({ kind: 'webhook_patient_ref' as const, id: event.id, clinic_id: event.clinic_id, at: event.created_at })),
    ],
  };
}

/** Carries out `plan` (or, with `dryRun`, only records that it was looked at); audited either way. */
export async function runRetention(db: Db, actor: AuditActor, plan: RetentionPlan, { dryRun }: { dryRun: boolean }): Promise<{ erased: number }> {
  return withTransaction(db, async (trx) => {
    const ids = (kind: RetentionItem['kind']) => plan.items.filter((item) => item.kind === kind).map((item) => item.id);
    const erased = dryRun ? 0 : (await eraseTravelRuleRecords(trx, ids('travel_rule_record'))) + (await erasePatientRefs(trx, ids('webhook_patient_ref')));
    await appendAudit(trx, actor, [
      {
        action: dryRun ? 'retention.dry_run' : 'retention.erased',
        target: { type: 'retention', id: plan.cutoff.toISOString() },
        clinicId: null,
        after: {
          retention_years: plan.years,
          cutoff: plan.cutoff.toISOString(),
          travel_rule_records: ids('travel_rule_record').join(','),
          webhook_events: ids('webhook_patient_ref').join(','),
          erased,
        },
      },
    ]);
    return { erased };
  });
}
