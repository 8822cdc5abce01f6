/**
 * Travel-rule information. For an invoice at or above the threshold (HK$8,000 by default, the
 * HKMA guideline's), the payer gives, before the payment page shows where to pay: their full
 * name; an identity document's number, or their date and place of birth; their address; and the
 * wallet they will pay from, proven by an EIP-712 signature from that wallet naming the invoice
 * on this chain. Every field is checked here; a signature by another wallet, for another
 * invoice, or on another chain is refused.
 *
 * The information is personal data: it is sealed under a data key of its own record, and that
 * key is sealed with the gateway's SECRETS_KEYS. Clinic staff see only that it was captured;
 * auditors and platform admins read it (and export it as IVMS101). After the retention period
 * the record's key is destroyed (crypto-shredding): the ciphertext stays, unreadable, and every
 * financial record, the audit chain and statement roots stay as they were.
 */
import { randomBytes } from 'node:crypto';
import { getAddress, type Hex, isAddress, verifyTypedData } from 'viem';
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { ValidationError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { SecretBox } from '../platform/secretBox.js';
import { TravelRuleError } from './errors.js';

/** The payer's information, as captured (and as the IVMS101 export maps it). */
export interface TravelRuleInput {
  fullName: string;
  /** An identity document; required unless the date and place of birth are given. */
  identification: { type: IdentificationType; number: string; country: string } | null;
  /** Date (YYYY-MM-DD) and place of birth; required unless an identity document is given. */
  birth: { date: string; place: string } | null;
  address: { line: string; town: string; country: string };
}

/** IVMS101's national identifier types the form offers: passport, national identity card, other. */
export const IDENTIFICATION_TYPES = ['CCPT', 'IDCD', 'MISC'] as const;
export type IdentificationType = (typeof IDENTIFICATION_TYPES)[number];

/** What the payer's wallet signs: the invoice, on this chain, from this wallet. */
export function travelRuleTypedData(chainId: number, invoiceId: string, payer: string) {
  return {
    domain: { name: 'ClinicPay', version: '1', chainId },
    types: {
      TravelRule: [
        { name: 'invoice', type: 'string' },
        { name: 'payer', type: 'address' },
        { name: 'statement', type: 'string' },
      ],
    },
    primaryType: 'TravelRule' as const,
    message: { invoice: invoiceId, payer: getAddress(payer), statement: 'I will pay this invoice from this wallet.' },
  };
}

const text = (form: Record<string, unknown>, name: string, max: number, required: boolean): string | undefined => {
  const value = typeof form[name] === 'string' ? (form[name] as string).trim().replace(/\s+/g, ' ') : '';
  if (value === '') {
    if (required) throw new ValidationError(`${name} is required`, name);
    return undefined;
  }
  if (value.length > max) throw new ValidationError(`${name} is at most ${max} characters`, name);
  // Names and addresses are text: no control characters, no markup.
  if (/[\p{Cc}<>]/u.test(value)) throw new ValidationError(`${name} has characters a name or an address does not`, name);
  return value;
};

const country = (form: Record<string, unknown>, name: string, required: boolean): string | undefined => {
  const value = text(form, name, 2, required)?.toUpperCase();
  if (value !== undefined && !/^[A-Z]{2}$/.test(value)) throw new ValidationError(`${name} is a two-letter country code (ISO 3166), such as HK or CN`, name);
  return value;
};

/**
 * The payer's information from the payment page's form, every field checked: a clear
 * {@link ValidationError} naming the field otherwise.
 */
export function parseTravelRuleForm(form: Record<string, unknown>, now = new Date()): TravelRuleInput {
  const fullName = text(form, 'full_name', 140, true)!;
  const idNumber = text(form, 'id_number', 40, false);
  const idType = text(form, 'id_type', 4, false);
  const idCountry = country(form, 'id_country', false);
  const birthDate = text(form, 'birth_date', 10, false);
  const birthPlace = text(form, 'birth_place', 100, false);
  let identification: TravelRuleInput['identification'] = null;
  if (idNumber !== undefined) {
    if (!/^[A-Za-z0-9()/ -]{3,40}$/.test(idNumber)) throw new ValidationError('id_number is 3 to 40 letters and digits', 'id_number');
    if (!IDENTIFICATION_TYPES.includes(idType as IdentificationType))
      throw new ValidationError(`id_type is one of ${IDENTIFICATION_TYPES.join(', ')}`, 'id_type');
    if (idCountry === undefined) throw new ValidationError('id_country is required with an identity document', 'id_country');
    identification = { type: idType as IdentificationType, number: idNumber.toUpperCase(), country: idCountry };
  }
  let birth: TravelRuleInput['birth'] = null;
  if (birthDate !== undefined || birthPlace !== undefined) {
    const date = birthDate === undefined ? undefined : new Date(`${birthDate}T00:00:00Z`);
    if (!birthDate || !/^\d{4}-\d{2}-\d{2}$/.test(birthDate) || Number.isNaN(date!.getTime()) || date!.toISOString().slice(0, 10) !== birthDate) {
      throw new ValidationError('birth_date is a date, YYYY-MM-DD', 'birth_date');
    }
    if (date! >= now || date!.getUTCFullYear() < 1900) throw new ValidationError('birth_date is a date in the past', 'birth_date');
    if (birthPlace === undefined) throw new ValidationError('birth_place is required with the date of birth', 'birth_place');
    birth = { date: birthDate, place: birthPlace };
  }
  if (identification === null && birth === null) {
    throw new ValidationError('an identity document number, or the date and place of birth, is required', 'id_number');
  }
  const address = {
    line: text(form, 'address_line', 200, true)!,
    town: text(form, 'address_town', 100, true)!,
    country: country(form, 'address_country', true)!,
  };
  return { fullName, identification, birth, address };
}

export interface CaptureTravelRuleParameters {
  invoiceId: string;
  clinicId: string;
  chainId: number;
  /** The wallet the payer will pay from, as they gave it. */
  payer: unknown;
  /** Its EIP-712 signature of {@link travelRuleTypedData}. */
  signature: unknown;
  input: TravelRuleInput;
}

/**
 * Checks the wallet's signature and keeps the information sealed under a data key of its own.
 * Audited without any of the information (`travel_rule.captured`, the wallet only). Returns the
 * proven wallet (lower case).
 */
export async function captureTravelRule(trx: Trx, secrets: SecretBox, actor: AuditActor, params: CaptureTravelRuleParameters): Promise<string> {
  if (typeof params.payer !== 'string' || !isAddress(params.payer, { strict: false })) {
    throw new ValidationError('payer_address is the 0x address of the wallet you will pay from', 'payer_address');
  }
  if (typeof params.signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(params.signature)) {
    throw new ValidationError("signature is the wallet's signature (65 bytes, 0x…)", 'signature');
  }
  const payer = getAddress(params.payer);
  const valid = await verifyTypedData({
    address: payer,
    ...travelRuleTypedData(params.chainId, params.invoiceId, payer),
    signature: params.signature as Hex,
  }).catch(() => false);
  if (!valid) throw new ValidationError('the signature is not by this wallet for this invoice on this chain', 'signature');
  const existing = await trx('travel_rule_records').where({ invoice_id: params.invoiceId }).first('id');
  if (existing) throw new TravelRuleError('travel_rule_captured', "The payer's information for this invoice is in already.");

  const id = newId('trv');
  const dataKey = randomBytes(32);
  const ciphertext = new SecretBox([{ id: 'record', key: dataKey }]).seal(JSON.stringify(params.input), `travel_rule:${id}`);
  const wrappedKey = secrets.seal(dataKey.toString('base64'), `travel_rule_key:${id}`);
  dataKey.fill(0);
  await trx('travel_rule_records').insert({
    id,
    invoice_id: params.invoiceId,
    clinic_id: params.clinicId,
    chain_id: params.chainId,
    payer_address: payer.toLowerCase(),
    signature: params.signature.toLowerCase(),
    ciphertext,
    wrapped_key: wrappedKey,
  });
  await appendAudit(trx, actor, [
    {
      action: 'travel_rule.captured',
      target: { type: 'travel_rule_record', id },
      clinicId: params.clinicId,
      after: { invoice_id: params.invoiceId, payer_address: payer.toLowerCase() },
    },
  ]);
  return payer.toLowerCase();
}

export interface TravelRuleRecord {
  id: string;
  invoice_id: string;
  clinic_id: string;
  chain_id: number;
  payer_address: string;
  signature: string;
  captured_at: Date;
  erased_at: Date | null;
  /** The information, opened; null once erased. */
  data: TravelRuleInput | null;
}

/** The record of `invoiceId`, opened (for auditors and platform admins only), if there is one. */
export async function travelRuleRecordOf(db: Db | Trx, secrets: SecretBox, invoiceId: string): Promise<TravelRuleRecord | undefined> {
  const row = (await db('travel_rule_records').where({ invoice_id: invoiceId }).first()) as
    | (Omit<TravelRuleRecord, 'data'> & { ciphertext: string | null; wrapped_key: string | null })
    | undefined;
  if (!row) return undefined;
  const { ciphertext, wrapped_key: wrappedKey, ...record } = row;
  if (ciphertext === null || wrappedKey === null) return { ...record, data: null };
  const dataKey = Buffer.from(secrets.open(wrappedKey, `travel_rule_key:${row.id}`), 'base64');
  const data = JSON.parse(new SecretBox([{ id: 'record', key: dataKey }]).open(ciphertext, `travel_rule:${row.id}`)) as TravelRuleInput;
  return { ...record, data };
}

/** The reference a payment's evidence gives: the record's id, when, the wallet, and whether it is erased. */
export async function travelRuleReference(
  db: Db | Trx,
  invoiceId: string,
): Promise<{ id: string; captured_at: Date; payer_address: string; erased_at: Date | null } | undefined> {
  return (await db('travel_rule_records').where({ invoice_id: invoiceId }).first('id', 'captured_at', 'payer_address', 'erased_at')) as
    | { id: string; captured_at: Date; payer_address: string; erased_at: Date | null }
    | undefined;
}

/** The beneficiary side of a transfer: the clinic, and the address it was paid at. */
export interface TravelRuleBeneficiary {
  clinicName: string;
  account: string;
}

/**
 * The record in the IVMS101 data model (interVASP Messaging Standard 101, 2020): the payer as
 * the originator (a natural person, with the wallet as account number), the clinic as the
 * beneficiary (a legal person, at the deposit address). Null once the record is erased.
 */
export function toIvms101(record: TravelRuleRecord, beneficiary: TravelRuleBeneficiary): Record<string, unknown> | null {
  const data = record.data;
  if (data === null) return null;
  const person: Record<string, unknown> = {
    name: { nameIdentifier: [{ primaryIdentifier: data.fullName, nameIdentifierType: 'LEGL' }] },
    geographicAddress: [{ addressType: 'HOME', addressLine: [data.address.line], townName: data.address.town, country: data.address.country }],
    countryOfResidence: data.address.country,
  };
  if (data.identification) {
    person.nationalIdentification = {
      nationalIdentifier: data.identification.number,
      nationalIdentifierType: data.identification.type,
      countryOfIssue: data.identification.country,
    };
  }
  if (data.birth) person.dateAndPlaceOfBirth = { dateOfBirth: data.birth.date, placeOfBirth: data.birth.place };
  return {
    originator: { originatorPersons: [{ naturalPerson: person }], accountNumber: [getAddress(record.payer_address)] },
    beneficiary: {
      beneficiaryPersons: [{ legalPerson: { name: { nameIdentifier: [{ legalPersonName: beneficiary.clinicName, legalPersonNameIdentifierType: 'LEGL' }] } } }],
      accountNumber: [getAddress(beneficiary.account)],
    },
  };
}

/** A record past the retention period, not yet erased. */
export interface ExpiringTravelRuleRecord {
  id: string;
  invoice_id: string;
  clinic_id: string;
  captured_at: Date;
}

/** Records captured before `cutoff` and not yet erased, oldest first. */
export async function travelRuleRecordsBefore(db: Db | Trx, cutoff: Date): Promise<ExpiringTravelRuleRecord[]> {
  return (await db('travel_rule_records')
    .whereNull('erased_at')
    .where('captured_at', '<', cutoff)
    .orderBy('captured_at')
    .select('id', 'invoice_id', 'clinic_id', 'captured_at')) as ExpiringTravelRuleRecord[];
}

/**
 * Erases records by destroying their data keys (crypto-shredding): the sealed information
 * stays, and no key opens it again. Returns how many were erased.
 */
export async function eraseTravelRuleRecords(trx: Trx, ids: readonly string[]): Promise<number> {
  if (ids.length === 0) return 0;
  return trx('travel_rule_records')
    .whereIn('id', [...ids])
    .whereNull('erased_at')
    .update({ wrapped_key: null, erased_at: trx.fn.now() });
}
