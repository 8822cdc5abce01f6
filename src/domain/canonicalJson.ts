/**
 * Canonical JSON (RFC 8785, JCS) for the values ClinicPay hashes: objects, arrays, strings,
 * finite numbers, booleans and null. Keys are sorted by UTF-16 code units at every level,
 * there is no whitespace, strings and numbers are written as ECMAScript's JSON.stringify
 * writes them — which is what RFC 8785 specifies. Properties whose value is `undefined` are
 * left out, as JSON.stringify does.
 *
 * @example
 * canonicalJson({ b: 1, a: [true, null, 'x'] }) // '{"a":[true,null,"x"],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no ${value}`);
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const object = value as Record<string, unknown>;
    return `{${Object.keys(object)
      .filter((key) => object[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(object[key])}`)
      .join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold a ${typeof value}`);
}
