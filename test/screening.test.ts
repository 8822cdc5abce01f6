/**
 * Address screening with real components: lists in OFAC's SDN advanced XML and in CSV (fixtures
 * written by the project in those formats, `test/fixtures/screening/`), loaded into Postgres as
 * versions, through the function and through `npx clinicpay screening load`. A file that does
 * not read is refused whole and the list in force stays. A listed address is refused as a
 * clinic's settlement wallet, as a proposed new one, at the approval of a change, and as a
 * refund destination (the payer of a real overpayment on anvil), and nothing is written.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../src/audit/auditLog.js';
import { ScreeningListError } from '../src/compliance/errors.js';
import { activeScreeningLists, loadScreeningList, screenAddresses } from '../src/compliance/screening.js';
import { parseOfacSdnXml, parseScreeningCsv } from '../src/compliance/screeningFormats.js';
import { bearer, buildTestApp, onboardClinic, tokenFor } from './support/app.js';
import { audited, createTestDatabase, type TestDatabase } from './support/database.js';
import { spawnClinicpay } from './support/gatewayProcess.js';
import { clinicWithWallet, exceptionOf, FINANCE_A, post, type ReconEnv, reconcile, settleAll, startReconEnv } from './support/recon.js';
import { newInvoice, pay } from './support/settlement.js';

const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'screening');
const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name));
const text = (name: string) => fixture(name).toString('utf8');
async function* once(value: string) {
  yield value;
}

/** The addresses of the test SDN list: ETH and ARB of the mixer, the EVM-shaped USDT of the exchange. */
const SDN_ETH = '0x7f367cc41522ce07553e823bf3be79a889debe1b';
const SDN_ARB = '0xd882cfc20f52f2599d84b8e8d58c7fb62cfe344b';
const SDN_USDT = '0x1da5821544e25c636c1417ba96ade4cf6d2f9b5a';
const CSV_ADDRESS = '0x8589427373d6d84e98730d7795d8f6f8731fda16';

describe('reading screening lists', () => {
  it('takes the EVM addresses of OFAC’s digital-currency features, with the party’s name and reference, and nothing of other chains', async () => {
    const entries = await parseOfacSdnXml(once(text('sdn_advanced.xml')));
    expect(entries).toEqual([
      { address: SDN_ETH, name: 'EXAMPLE MIXER GROUP', reference: '90001' },
      { address: SDN_ARB, name: 'EXAMPLE MIXER GROUP', reference: '90001' },
      { address: SDN_USDT, name: 'EXAMPLE EXCHANGE LTD', reference: '90002' },
    ]);
  });

  it('reads the same document fed in small chunks as whole', async () => {
    const whole = text('sdn_advanced.xml');
    async function* chunks() {
      for (let at = 0; at < whole.length; at += 7) yield whole.slice(at, at + 7);
    }
    expect(await parseOfacSdnXml(chunks())).toEqual(await parseOfacSdnXml(once(whole)));
  });

  it('refuses a whole XML file with a Bitcoin address under ETH, one that is not the SDN format, and one that is not XML', async () => {
    await expect(parseOfacSdnXml(once(text('sdn_bitcoin_under_eth.xml')))).rejects.toThrow(/party 90001: "1ECeZBxC.*" under ETH is not an EVM address/);
    await expect(parseOfacSdnXml(once('<?xml version="1.0"?><list><entry>0x00</entry></list>'))).rejects.toThrow(/root is <list>, not <Sanctions>/);
    await expect(parseOfacSdnXml(once('<Sanctions><Unclosed></Sanctions>'))).rejects.toThrow(ScreeningListError);
  });

  it('reads CSV by its header (quoted names with commas), compares case-insensitively, and refuses a file with one bad line whole, naming the line', () => {
    expect(parseScreeningCsv(text('designations.csv'))).toEqual([
      { address: CSV_ADDRESS, name: 'Example Designated Person, Hong Kong', reference: 'HK-UNSO-2026-017' },
      { address: SDN_USDT, name: null, reference: null },
    ]);
    expect(() => parseScreeningCsv(text('designations_bad.csv'))).toThrow(/line 3: "bc1qa5wk.*" is not an EVM address/);
    expect(() => parseScreeningCsv('wallet,owner\n0x8589427373D6D84E98730D7795D8f6f8731FDA16,x\n')).toThrow(/header naming an "address" column/);
    expect(() => parseScreeningCsv('address\n')).toThrow(/no entries/);
  });
});

describe('screening lists in the database', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.close();
  });

  it('keeps each load as a version with its SHA-256 and count; a reload replaces the list at once; a bad file changes nothing', async () => {
    const { db } = database;
    const first = await loadScreeningList(db, SYSTEM.operator, { name: 'ofac-sdn', bytes: fixture('sdn_advanced.xml') });
    expect(first).toMatchObject({
      name: 'ofac-sdn',
      format: 'ofac_sdn_xml',
      entry_count: 3,
      sha256: createHash('sha256').update(fixture('sdn_advanced.xml')).digest('hex'),
      replaced: null,
    });
    expect((await screenAddresses(db, [SDN_ETH.toUpperCase().replace('0X', '0x')])).map((hit) => [hit.list, hit.version, hit.reference])).toEqual([
      ['ofac-sdn', first.id, '90001'],
    ]);

    // A bad file: refused, and the version in force answers as before.
    await expect(loadScreeningList(db, SYSTEM.operator, { name: 'ofac-sdn', bytes: fixture('sdn_bitcoin_under_eth.xml') })).rejects.toThrow(ScreeningListError);
    expect((await activeScreeningLists(db)).map((list) => list.id)).toEqual([first.id]);
    expect(await db('screening_lists').count('* as n').first()).toEqual({ n: '1' });

    // The next version of the list replaces the first whole: its addresses and only those.
    const second = await loadScreeningList(db, SYSTEM.operator, { name: 'ofac-sdn', bytes: fixture('designations.csv') });
    expect(second.replaced).toEqual({ id: first.id, sha256: first.sha256, entry_count: 3 });
    expect(await screenAddresses(db, [SDN_ETH])).toEqual([]);
    expect((await screenAddresses(db, [CSV_ADDRESS, SDN_USDT])).map((hit) => `${hit.address} ${hit.version}`)).toEqual([
      `${SDN_USDT} ${second.id}`,
      `${CSV_ADDRESS} ${second.id}`,
    ]);
    const versions = await db('screening_lists').orderBy('loaded_at').select('id', 'active', 'replaced_at');
    expect(versions.map((row) => [row.id, row.active, row.replaced_at !== null])).toEqual([
      [first.id, false, true],
      [second.id, true, false],
    ]);
    // The old version's entries stay, as evidence of what was screened against before.
    expect(await db('screening_entries').where({ list_id: first.id }).count('* as n').first()).toEqual({ n: '3' });
    const audit = await (await audited(db))('audit_log').where({ action: 'screening_list.loaded' }).orderBy('seq');
    expect(audit.map((row) => row.after.sha256)).toEqual([first.sha256, second.sha256]);
    expect(audit[1].before).toEqual({ version: first.id, sha256: first.sha256, entry_count: 3 });
  });

  it('loads from the command line, says what is in force, warns of a clinic whose wallet is now listed, and refuses a bad file with exit status 1', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'clinicpay-screening-'));
    try {
      const { app } = await buildTestApp({ db: database.db });
      const clinic = await onboardClinic(app, 'Listed Later Clinic', `0x${'ab'.repeat(20)}`);
      const listFile = path.join(dataDir, 'own.csv');
      fs.writeFileSync(listFile, `address,name\n0x${'AB'.repeat(20)},Operator's own listing\n`);
      const env = { DATA_DIR: dataDir, DATABASE_URL: database.url };
      const loaded = spawnClinicpay(['screening', 'load', listFile, '--list', 'operator-own'], env);
      expect(await loaded.exited).toBe(0);
      expect(loaded.output()).toMatch(/^screening list operator-own: version scl_[0-9a-f]{24} in force, 1 addresses, sha256 [0-9a-f]{64}\n/);
      expect(loaded.output()).toContain(`ATTENTION clinic ${clinic}: its settlement wallet 0x${'ab'.repeat(20)} is on operator-own`);

      const refused = spawnClinicpay(['screening', 'load', path.join(FIXTURES, 'designations_bad.csv'), '--list', 'operator-own'], env);
      expect(await refused.exited).toBe(1);
      expect(refused.output()).toContain('was not loaded, the list in force is unchanged: line 3:');
      expect((await activeScreeningLists(database.db)).find((list) => list.name === 'operator-own')?.entry_count).toBe(1);

      const usage = spawnClinicpay(['screening', 'load', listFile, '--list', 'Not A Name'], env);
      expect(await usage.exited).toBe(2);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('listed addresses are refused where money would go', () => {
  let r: ReconEnv;

  beforeAll(async () => {
    r = await startReconEnv();
  }, 120_000);
  afterAll(async () => {
    await r?.env.close();
  });

  it('refuses a new clinic, a proposed settlement address and an approval with a listed address (422 address_screened), and writes nothing', async () => {
    await loadScreeningList(r.env.db, SYSTEM.operator, { name: 'ofac-sdn', bytes: fixture('sdn_advanced.xml') });
    const admin = bearer(tokenFor('platform_admin', undefined, 'admin-one'));
    const clinicsBefore = await r.env.db('clinics').count('* as n').first();
    const created = await request(r.app)
      .post('/v1/clinics')
      .set(admin)
      .set('Idempotency-Key', randomUUID())
      .send({ name: 'Mixer Clinic', settlement_address: `0x7F367cC41522cE07553e823bf3be79A889DEbe1B` });
    expect(created.status).toBe(422);
    expect(created.body).toMatchObject({ code: 'address_screened', param: 'settlement_address' });
    expect(created.body.detail).toContain('ofac-sdn');
    expect(await r.env.db('clinics').count('* as n').first()).toEqual(clinicsBefore);

    const clinic = await onboardClinic(r.app, 'Harbour Clinic');
    const proposed = await request(r.app)
      .post(`/v1/clinics/${clinic}/settlement-address-changes`)
      .set(admin)
      .set('Idempotency-Key', randomUUID())
      .send({ address: SDN_ARB, reason: 'new wallet' });
    expect(proposed.status).toBe(422);
    expect(proposed.body).toMatchObject({ code: 'address_screened', param: 'address' });
    expect(await r.env.db('settlement_address_changes').where({ clinic_id: clinic }).count('* as n').first()).toEqual({ n: '0' });

    // Proposed while clean, listed before the approval: the approval is refused, the wallet stays.
    const wallet = `0x${'5a'.repeat(20)}`;
    const change = await request(r.app)
      .post(`/v1/clinics/${clinic}/settlement-address-changes`)
      .set(admin)
      .set('Idempotency-Key', randomUUID())
      .send({ address: wallet, reason: 'new wallet' });
    expect(change.status, change.text).toBe(201);
    await loadScreeningList(r.env.db, SYSTEM.operator, { name: 'operator-own', bytes: Buffer.from(`address\n${wallet}\n`) });
    const approved = await request(r.app)
      .post(`/v1/settlement-address-changes/${change.body.id}/approve`)
      .set(bearer(tokenFor('platform_admin', undefined, 'admin-two')))
      .set('Idempotency-Key', randomUUID());
    expect(approved.status).toBe(422);
    expect(approved.body.code).toBe('address_screened');
    expect((await r.env.db('clinics').where({ id: clinic }).first()).settlement_address).toBe(`0x${'cd'.repeat(20)}`);
    expect((await r.env.db('settlement_address_changes').where({ id: change.body.id }).first()).status).toBe('pending');
  });

  it('refuses a refund to a payer that a list loaded after the payment has, and proposes nothing', async () => {
    const clinic = await clinicWithWallet(r.env);
    const invoice = await newInvoice(r.env, clinic, { amount: '10.00' });
    await pay(r.env, invoice.deposit_address, 12_000_000n);
    await settleAll(r.env);
    expect((await reconcile(r.app)).status).toBe('completed');
    const exception = await exceptionOf(r.app, 'overpayment', invoice.id);
    await loadScreeningList(r.env.db, SYSTEM.operator, { name: 'hk-designations', bytes: Buffer.from(`address,name\n${r.env.payer.address},Example payer\n`) });
    const refund = await post(r.app, FINANCE_A, `/v1/exceptions/${exception.id}/resolutions`, { action: 'refund' });
    expect(refund.status).toBe(422);
    expect(refund.body).toMatchObject({ code: 'address_screened', param: 'to_address' });
    expect(refund.body.detail).toContain('hk-designations');
    expect(await r.env.db('resolutions').where({ exception_id: exception.id }).count('* as n').first()).toEqual({ n: '0' });
  });
});
