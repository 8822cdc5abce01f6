/**
 * The alert rules and the dashboard an operator installs name only metrics the gateway really
 * exports: each name is looked up in a real app's /metrics. The rules parse (YAML), each has a
 * severity, a summary and what to do, and every expression has balanced brackets (promtool is
 * not available here). The gauges read at scrape time report the database as it is.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildTestApp } from './support/app.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

const rules = (parse(read('ops/alerts.yml')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((group) => group.rules);
const dashboard = JSON.parse(read('ops/grafana/clinicpay.json')) as { panels: { title: string; targets: { expr: string }[] }[] };

let database: TestDatabase;
let app: Express;

beforeAll(async () => {
  database = await createTestDatabase();
  ({ app } = await buildTestApp({ db: database.db }));
});

afterAll(async () => {
  await database.close();
});

/** The metric names an expression uses (a histogram's series by the histogram's name). */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bclinicpay_[a-z0-9_]+/g)].map((match) => match[0].replace(/_(bucket|sum|count)$/, ''));
}

function balanced(expr: string): boolean {
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  const stack: string[] = [];
  for (const char of expr) {
    if ('([{'.includes(char)) stack.push(char);
    else if (char in pairs && stack.pop() !== pairs[char]) return false;
  }
  return stack.length === 0;
}

async function exported(): Promise<{ names: Set<string>; text: string }> {
  const response = await request(app).get('/metrics');
  expect(response.status).toBe(200);
  return { names: new Set([...response.text.matchAll(/^# HELP (\S+)/gm)].map((match) => match[1]!)), text: response.text };
}

describe('ops/alerts.yml', () => {
  it('has rules for what the operator must hear of, each with a severity, a summary and what to do', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'ClinicPayWatcherLagging',
        'ClinicPayFlushFailed',
        'ClinicPayWebhookBacklog',
        'ClinicPayReconciliationExceptions',
        'ClinicPayRelayerBalanceLow',
        'ClinicPayRpcErrors',
        'ClinicPayPoolSaturated',
      ]),
    );
    for (const rule of rules) {
      expect(['page', 'warn'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length, rule.alert).toBeGreaterThan(10);
      expect(rule.annotations.description.length, rule.alert).toBeGreaterThan(10);
      expect(balanced(rule.expr), rule.alert).toBe(true);
      if (rule.for !== undefined) expect(rule.for, rule.alert).toMatch(/^\d+[smh]$/);
    }
  });

  it('and the dashboard name only metrics /metrics exports', async () => {
    const { names } = await exported();
    const used = new Set([
      ...rules.flatMap((rule) => metricsIn(rule.expr)),
      ...dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => metricsIn(target.expr))),
    ]);
    expect(used.size).toBeGreaterThan(15);
    expect([...used].filter((name) => !names.has(name))).toEqual([]);
    for (const panel of dashboard.panels) for (const target of panel.targets) expect(balanced(target.expr), panel.title).toBe(true);
  });
});

describe('gauges read at scrape time', () => {
  it('report the database as it is: pending webhook events, forwarding queue, pools', async () => {
    const clinic = {
      id: 'clin_aaaaaaaaaaaaaaaaaaaaaaaa',
      name: 'Gauge Clinic',
      settlement_address: `0x${'ab'.repeat(20)}`,
      webhook_secret: 'sealed-elsewhere',
    };
    await database.db('clinics').insert(clinic);
    await database.db('webhook_events').insert(
      [1, 2, 3].map((n) => ({
        id: `evt_${String(n).padStart(24, '0')}`,
        clinic_id: clinic.id,
        type: 'invoice.paid',
        payload: JSON.stringify({ object: {} }),
        status: 'pending',
      })),
    );
    const { text } = await exported();
    expect(text).toMatch(/^clinicpay_webhook_events_pending 3$/m);
    expect(text).toMatch(/^clinicpay_flush_requests\{status="pending"\} 0$/m);
    expect(text).toMatch(/^clinicpay_db_pool_connections\{pool="api",state="max"\} \d+$/m);
    expect(Number(/^clinicpay_webhook_oldest_pending_seconds (\S+)$/m.exec(text)![1])).toBeGreaterThanOrEqual(0);
  });
});
