/**
 * A nightly job for the finance team: yesterday's statement (Hong Kong days), saved as the JSON an
 * auditor verifies, the PDF finance files, and the CSV the accounts system imports.
 *
 *     CLINICPAY_API_KEY=$(node -p "require('./.data/dev-stack.json').api_keys.auditor") \
 *     CLINICPAY_CLINIC_ID=$(node -p "require('./.data/dev-stack.json').demo_clinic_id") \
 *       npx tsx examples/nightlyStatement.ts [YYYY-MM-DD] [folder]
 *
 * Check a saved statement without trusting the gateway: `npx clinicpay verify <file>.json --rpc <url>`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ClinicPay } from 'clinicpay/client';

const HONG_KONG_OFFSET_MS = 8 * 3600_000;
const yesterday = new Date(Date.now() + HONG_KONG_OFFSET_MS - 86_400_000).toISOString().slice(0, 10);
const [day = yesterday, folder = 'statements'] = process.argv.slice(2);
if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw new Error(`Not a day: ${day} (YYYY-MM-DD)`);

const clinicId = process.env.CLINICPAY_CLINIC_ID;
if (!clinicId) throw new Error('Set CLINICPAY_CLINIC_ID to the clinic whose statement this is');
const clinicpay = new ClinicPay({
  apiKey: process.env.CLINICPAY_API_KEY ?? '',
  baseUrl: process.env.CLINICPAY_URL ?? 'http://127.0.0.1:3000',
});

// The day from midnight to midnight in Hong Kong (UTC+8, no daylight saving).
const period = { clinic_id: clinicId, from: `${day}T00:00:00+08:00`, to: new Date(Date.parse(`${day}T00:00:00+08:00`) + 86_400_000).toISOString() };
const statement = await clinicpay.statements.create(period);
fs.mkdirSync(folder, { recursive: true });
const base = path.join(folder, `statement-${day}`);
fs.writeFileSync(`${base}.json`, `${JSON.stringify(statement, null, 2)}\n`);
// The statement just issued, by its id: the same lines and root as the JSON, as PDF and CSV.
fs.writeFileSync(`${base}.pdf`, await clinicpay.statements.downloadById(statement.id, { format: 'pdf' }));
fs.writeFileSync(`${base}.csv`, await clinicpay.statements.downloadById(statement.id, { format: 'csv' }));
console.log(`${day}: ${statement.lines.length} lines, root ${statement.merkle_root}; saved ${base}.json, .pdf, .csv`);
