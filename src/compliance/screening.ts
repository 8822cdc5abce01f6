/**
 * compliance/ — what a bank, an issuer and an auditor ask of a gateway that takes regulated
 * stablecoins. This file: address screening. The operator loads sanctions and designation lists
 * (OFAC's SDN advanced XML, or CSV for any other list); each load is a version kept with its
 * file's SHA-256 and entry count, and replaces the version in force in one transaction, so a
 * lookup sees the old list or the new one, never a mix. The folders that send money or bind a
 * clinic to an address ask here first and refuse an address on a list.
 *
 * Owns tables: screening_lists, screening_entries, payment_holds, payment_screenings, address_freezes, freeze_scans, travel_rule_records.
 * May import: platform, domain, audit.
 */
import { createHash } from 'node:crypto';
import { type AuditActor, appendAudit } from '../audit/auditLog.js';
import type { Db, Trx } from '../platform/db.js';
import { newId } from '../platform/ids.js';
import { withTransaction } from '../platform/transaction.js';
import { AddressScreenedError, ScreeningListError } from './errors.js';
import { detectFormat, parseOfacSdnXml, parseScreeningCsv, type ScreeningEntry, type ScreeningFormat } from './screeningFormats.js';

/** A list's name: lower case, digits, `.`, `_` and `-`, as the operator names it (`ofac-sdn`, `hk-designations`). */
export const LIST_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Entries written per INSERT. */
const BATCH = 5_000;

export interface ScreeningListVersion {
  id: string;
  name: string;
  format: ScreeningFormat;
  sha256: string;
  entry_count: number;
  loaded_by: string;
  loaded_at: Date;
  /** The version this one replaced, if any. */
  replaced: { id: string; sha256: string; entry_count: number } | null;
}

/** A list that has an address, as evidence names it: which list, which version, which entry. */
export interface ScreeningHit {
  address: string;
  list: string;
  version: string;
  sha256: string;
  name: string | null;
  reference: string | null;
}

/**
 * Reads `bytes` as a list in its format (detected from its first bytes unless given) and makes
 * it the version in force of list `name`. A file that does not read is refused whole, with the
 * reason, and the version in force stays.
 */
export async function loadScreeningList(
  db: Db,
  actor: AuditActor,
  params: { name: string; bytes: Buffer; format?: ScreeningFormat | undefined },
): Promise<ScreeningListVersion> {
  if (!LIST_NAME.test(params.name)) throw new ScreeningListError(`the list name "${params.name}" is not lower-case letters, digits, ".", "_" or "-"`);
  const text = params.bytes.toString('utf8');
  const format = params.format ?? detectFormat(text.slice(0, 200));
  const entries: ScreeningEntry[] =
    format === 'ofac_sdn_xml'
      ? await parseOfacSdnXml(
          (async function* () {
            yield text;
          })(),
        )
      : parseScreeningCsv(text);
  if (entries.length === 0) throw new ScreeningListError('the file has no EVM addresses to screen');
  const sha256 = createHash('sha256').update(params.bytes).digest('hex');
  return withTransaction(db, async (trx) => {
    // One load of a list at a time: the second waits, then replaces the first's version.
    await trx.raw('SELECT pg_advisory_xact_lock(hashtext(?))', [`screening:${params.name}`]);
    const previous = (await trx('screening_lists').where({ name: params.name, active: true }).forUpdate().first()) as
      | { id: string; sha256: string; entry_count: number }
      | undefined;
    const id = newId('scl');
    await trx('screening_lists').insert({ id, name: params.name, format, sha256, entry_count: entries.length, active: false, loaded_by: actor.actor });
    for (let start = 0; start < entries.length; start += BATCH) {
      await trx('screening_entries').insert(entries.slice(start, start + BATCH).map((entry) => ({ list_id: id, ...entry })));
    }
    if (previous) await trx('screening_lists').where({ id: previous.id }).update({ active: false, replaced_at: trx.fn.now() });
    const [row] = (await trx('screening_lists').where({ id }).update({ active: true }).returning('*')) as Omit<ScreeningListVersion, 'replaced'>[];
    await appendAudit(trx, actor, [
      {
        action: 'screening_list.loaded',
        target: { type: 'screening_list', id },
        clinicId: null,
        ...(previous ? { before: { version: previous.id, sha256: previous.sha256, entry_count: previous.entry_count } } : {}),
        after: { name: params.name, format, sha256, entry_count: entries.length },
      },
    ]);
    return { ...row!, replaced: previous ? { id: previous.id, sha256: previous.sha256, entry_count: previous.entry_count } : null };
  });
}

/** The lists in force, by name. */
export async function activeScreeningLists(db: Db | Trx): Promise<Omit<ScreeningListVersion, 'replaced'>[]> {
  return (await db('screening_lists').where({ active: true }).orderBy('name')) as Omit<ScreeningListVersion, 'replaced'>[];
}

/** Which of `addresses` the lists in force have, and where. */
export async function screenAddresses(db: Db | Trx, addresses: readonly string[]): Promise<ScreeningHit[]> {
  const wanted = [...new Set(addresses.map((address) => address.toLowerCase()))];
  if (wanted.length === 0) return [];
  return (await db('screening_entries')
    .join('screening_lists', 'screening_lists.id', 'screening_entries.list_id')
    .where('screening_lists.active', true)
    .whereRaw('screening_entries.address = ANY(?)', [wanted])
    .orderBy(['screening_entries.address', 'screening_lists.name'])
    .select(
      'screening_entries.address',
      'screening_lists.name as list',
      'screening_lists.id as version',
      'screening_lists.sha256',
      'screening_entries.name',
      'screening_entries.reference',
    )) as ScreeningHit[];
}

/** What the on-chain sanctions oracle said of a payer at the payment's block; `answer` null: it did not answer. */
export interface OracleAnswer {
  oracle: string;
  block: string;
  answer: boolean | null;
  error: string | null;
}

/** A payer to screen: the transfer (and its generation) that paid, from where, and the oracle's answer if one was asked. */
export interface PayerToScreen {
  transferId: string;
  generation: number;
  address: string;
  oracle?: OracleAnswer | undefined;
}

/** The list name a sanctions oracle's "yes" is recorded under, like a list's. */
export const ORACLE_LIST = 'sanctions-oracle';

/** An oracle's "yes" as a hit: the oracle's address for the version, the block for the reference. */
function oracleHit(address: string, answer: OracleAnswer): ScreeningHit {
  return { address, list: ORACLE_LIST, version: answer.oracle, sha256: '', name: null, reference: `isSanctioned at block ${answer.block}` };
}

/** How a payment's payer was screened, kept as evidence. */
export interface PaymentScreening {
  id: string;
  transfer_id: string;
  generation: number;
  address: string;
  screened_at: Date;
  lists: { name: string; version: string; sha256: string; entries: number }[];
  /** `unscreened`: no list has the payer, but the oracle did not answer. */
  result: 'clear' | 'hit' | 'unscreened';
  hits: Omit<ScreeningHit, 'address'>[];
  oracle: OracleAnswer | null;
}

/** A payer's screening: what matched (lists and oracle), or that the oracle could not be asked. */
export interface PayerVerdict {
  hits: ScreeningHit[];
  /** No hit, but the oracle did not answer: the payment waits, held, until it does. */
  unscreened: boolean;
}

/**
 * Screens each payer against the lists in force (and takes the oracle's answer given with it),
 * and keeps the result as evidence (append-only): which list versions were consulted, the
 * oracle's answer, clear, hit or unscreened, and what matched. Returns the verdict of each
 * transfer that is not clear.
 */
export async function screenPayers(trx: Trx, payers: readonly PayerToScreen[]): Promise<Map<string, PayerVerdict>> {
  const byTransfer = new Map<string, PayerVerdict>();
  if (payers.length === 0) return byTransfer;
  const [lists, hits] = await Promise.all([
    activeScreeningLists(trx),
    screenAddresses(
      trx,
      payers.map((payer) => payer.address),
    ),
  ]);
  const consulted = lists.map((list) => ({ name: list.name, version: list.id, sha256: list.sha256, entries: list.entry_count }));
  const hitsOf = new Map<string, ScreeningHit[]>();
  for (const hit of hits) hitsOf.set(hit.address, [...(hitsOf.get(hit.address) ?? []), hit]);
  const rows = payers.map((payer) => {
    const address = payer.address.toLowerCase();
    const matched = [...(hitsOf.get(address) ?? []), ...(payer.oracle?.answer === true ? [oracleHit(address, payer.oracle)] : [])];
    const unscreened = matched.length === 0 && payer.oracle !== undefined && payer.oracle.answer === null;
    if (matched.length > 0 || unscreened) byTransfer.set(payer.transferId, { hits: matched, unscreened });
    return {
      id: newId('scr'),
      transfer_id: payer.transferId,
      generation: payer.generation,
      address,
      result: matched.length > 0 ? 'hit' : unscreened ? 'unscreened' : 'clear',
      hits: matched.map(({ address: _, ...hit }) => hit),
      oracle: payer.oracle ?? null,
    };
  });
  // One statement however many payers: the lists consulted are the same for all of them.
  await trx.raw(
    `INSERT INTO payment_screenings (id, transfer_id, generation, address, lists, result, hits, oracle)
     SELECT x.id, x.transfer_id, x.generation, x.address, ?::jsonb, x.result, x.hits, x.oracle
       FROM jsonb_to_recordset(?::jsonb) AS x(id text, transfer_id text, generation int, address text, result text, hits jsonb, oracle jsonb)`,
    [JSON.stringify(consulted), JSON.stringify(rows)],
  );
  return byTransfer;
}

/** How the payer of `transferId` was screened each time it was posted, oldest first. */
export async function paymentScreenings(db: Db | Trx, transferId: string): Promise<PaymentScreening[]> {
  return (await db('payment_screenings')
    .where({ transfer_id: transferId })
    .orderBy([{ column: 'screened_at' }, { column: 'id' }])) as PaymentScreening[];
}

/**
 * Refuses (422 `address_screened`, naming the lists) an address a list in force has: a
 * settlement wallet, a refund destination. `param` is the request field it came from.
 */
export async function refuseScreenedAddress(db: Db | Trx, address: string, param: string): Promise<void> {
  const hits = await screenAddresses(db, [address]);
  if (hits.length > 0) throw new AddressScreenedError(param, address, hits);
}
