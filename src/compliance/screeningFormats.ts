/**
 * Reading screening lists in the formats they are published in, into one shape: EVM addresses
 * (lower case) with the listed party's name and reference. A file that does not read as its
 * format, or that has an entry that is not an EVM address where one must be, is refused whole
 * with the reason: a list half-loaded would screen half.
 *
 * - The OFAC SDN "advanced" XML: its features of type "Digital Currency Address - <ticker>".
 *   Tickers of EVM chains (ETH, ETC, ARB, BSC) must hold EVM addresses; tickers of tokens that
 *   live on several chains (USDT, USDC…) contribute their EVM-shaped addresses and skip the
 *   others (a TRON address under USDT is another chain's, not a malformed entry).
 * - CSV with the header `address,chain,name,reference` (only `address` required, any order), for
 *   the UN and Hong Kong designations or the operator's own list.
 */
import { SaxesParser } from 'saxes';
import { ScreeningListError } from './errors.js';

export interface ScreeningEntry {
  /** `0x` and 40 lower-case hex digits. */
  address: string;
  name: string | null;
  reference: string | null;
}

export type ScreeningFormat = 'ofac_sdn_xml' | 'csv';

/** More entries than any published list has: a file this large is refused rather than loaded. */
export const MAX_SCREENING_ENTRIES = 1_000_000;

const EVM_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
/** Chains whose every address is an EVM address. */
const EVM_CHAIN_TICKERS = new Set(['ETH', 'ETC', 'ARB', 'BSC']);
/** Tokens issued on EVM chains and others: their EVM-shaped addresses count. */
const MULTI_CHAIN_TICKERS = new Set(['USDT', 'USDC', 'DAI', 'BUSD']);
const DIGITAL_CURRENCY = /^Digital Currency Address - ([A-Z0-9]+)$/;

/** The format a file is in, from its first bytes: XML or CSV. */
export function detectFormat(head: string): ScreeningFormat {
  return head.trimStart().startsWith('<') ? 'ofac_sdn_xml' : 'csv';
}

/** Adds `entry`, once per address (the first name and reference stand). */
function collect(entries: Map<string, ScreeningEntry>, entry: ScreeningEntry): void {
  const address = entry.address.toLowerCase();
  if (!entries.has(address)) entries.set(address, { ...entry, address });
  if (entries.size > MAX_SCREENING_ENTRIES) throw new ScreeningListError(`more than ${MAX_SCREENING_ENTRIES} entries`);
}

/** Reads an OFAC SDN advanced XML document, fed in chunks. */
export async function parseOfacSdnXml(chunks: AsyncIterable<string>): Promise<ScreeningEntry[]> {
  const parser = new SaxesParser({ xmlns: false });
  /** Feature type id → its ticker, for the digital-currency types. */
  const tickers = new Map<string, string>();
  /** Feature values in document order, resolved once every type is known. */
  const values: { typeId: string; value: string; party: string; name: string | null }[] = [];
  let root: string | undefined;
  let featureTypeId: string | undefined;
  let featureTypeText = '';
  let inFeatureType = false;
  let party = '';
  let partyName: string | null = null;
  let inNamePart = false;
  let namePartText = '';
  let currentFeature: string | undefined;
  let inVersionDetail = false;
  let detailText = '';
  let failure: Error | undefined;

  parser.on('opentag', (tag) => {
    const name = tag.name.includes(':') ? tag.name.slice(tag.name.indexOf(':') + 1) : tag.name;
    root ??= name;
    const attribute = (key: string) => {
      const value = tag.attributes[key];
      return typeof value === 'string' ? value : undefined;
    };
    if (name === 'FeatureType') {
      featureTypeId = attribute('ID');
      featureTypeText = '';
      inFeatureType = true;
    } else if (name === 'DistinctParty') {
      party = attribute('FixedRef') ?? '';
      partyName = null;
    } else if (name === 'NamePartValue' && partyName === null) {
      inNamePart = true;
      namePartText = '';
    } else if (name === 'Feature') {
      currentFeature = attribute('FeatureTypeID');
    } else if (name === 'VersionDetail' && currentFeature !== undefined) {
      inVersionDetail = true;
      detailText = '';
    }
  });
  parser.on('text', (text) => {
    if (inFeatureType) featureTypeText += text;
    if (inNamePart) namePartText += text;
    if (inVersionDetail) detailText += text;
  });
  parser.on('closetag', (tag) => {
    const name = tag.name.includes(':') ? tag.name.slice(tag.name.indexOf(':') + 1) : tag.name;
    if (name === 'FeatureType' && inFeatureType) {
      const match = DIGITAL_CURRENCY.exec(featureTypeText.trim());
      if (match && featureTypeId !== undefined) tickers.set(featureTypeId, match[1]!);
      inFeatureType = false;
    } else if (name === 'NamePartValue' && inNamePart) {
      partyName = namePartText.trim() || null;
      inNamePart = false;
    } else if (name === 'VersionDetail' && inVersionDetail) {
      values.push({ typeId: currentFeature!, value: detailText.trim(), party, name: partyName });
      inVersionDetail = false;
    } else if (name === 'Feature') {
      currentFeature = undefined;
    }
  });
  parser.on('error', (error) => {
    failure ??= error;
  });

  try {
    for await (const chunk of chunks) {
      parser.write(chunk);
      if (failure) break;
    }
    if (!failure) parser.close();
  } catch (error) {
    failure ??= error as Error;
  }
  if (failure) throw new ScreeningListError(`not well-formed XML: ${failure.message.split('\n')[0]}`);
  if (root !== 'Sanctions') throw new ScreeningListError(`not an OFAC SDN advanced XML document (its root is <${root ?? 'nothing'}>, not <Sanctions>)`);
  if (tickers.size === 0) throw new ScreeningListError('the document defines no "Digital Currency Address" feature types');

  const entries = new Map<string, ScreeningEntry>();
  for (const { typeId, value, party: reference, name } of values) {
    const ticker = tickers.get(typeId);
    if (ticker === undefined) continue;
    if (EVM_CHAIN_TICKERS.has(ticker)) {
      if (!EVM_ADDRESS.test(value)) throw new ScreeningListError(`party ${reference}: "${value.slice(0, 80)}" under ${ticker} is not an EVM address`);
      collect(entries, { address: value, name, reference: reference || null });
    } else if (MULTI_CHAIN_TICKERS.has(ticker) && EVM_ADDRESS.test(value)) {
      collect(entries, { address: value, name, reference: reference || null });
    }
  }
  return [...entries.values()];
}

/** Splits one CSV record (RFC 4180: quoted fields, doubled quotes); undefined for a broken quote. */
function csvFields(line: string): string[] | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let at = 0; at < line.length; at += 1) {
    const char = line[at]!;
    if (quoted) {
      if (char === '"' && line[at + 1] === '"') {
        field += '"';
        at += 1;
      } else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"' && field === '') quoted = true;
    else if (char === ',') {
      fields.push(field);
      field = '';
    } else field += char;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields.map((value) => value.trim());
}

/** Reads a CSV list: a header naming `address` (and optionally `chain`, `name`, `reference`), then one entry a line. */
export function parseScreeningCsv(text: string): ScreeningEntry[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = csvFields(lines[0] ?? '')?.map((name) => name.toLowerCase());
  if (!header?.includes('address')) throw new ScreeningListError('line 1 is not a header naming an "address" column (address,chain,name,reference)');
  const unknown = header.filter((name) => !['address', 'chain', 'name', 'reference'].includes(name));
  if (unknown.length > 0) throw new ScreeningListError(`line 1 names columns this format does not have: ${unknown.join(', ')}`);
  const column = (name: string) => header.indexOf(name);
  const entries = new Map<string, ScreeningEntry>();
  for (let index = 1; index < lines.length; index += 1) {
    const line = lines[index]!;
    if (line.trim() === '') continue;
    const fields = csvFields(line);
    if (!fields || fields.length !== header.length) throw new ScreeningListError(`line ${index + 1}: expected ${header.length} fields`);
    const address = fields[column('address')]!;
    if (!EVM_ADDRESS.test(address)) throw new ScreeningListError(`line ${index + 1}: "${address.slice(0, 80)}" is not an EVM address (0x and 40 hex digits)`);
    const optional = (name: string) => (column(name) < 0 ? null : fields[column(name)]! || null);
    collect(entries, { address, name: optional('name'), reference: optional('reference') });
  }
  if (entries.size === 0) throw new ScreeningListError('the file has no entries');
  return [...entries.values()];
}
