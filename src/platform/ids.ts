/**
 * Object ids: a type prefix and 96 random bits, e.g. `inv_3f9a…` (24 hex digits).
 * Random rather than sequential, so an id reveals nothing about volume or order.
 */
import { randomFillSync } from 'node:crypto';

export type IdPrefix =
  | 'clin'
  | 'inv'
  | 'pay'
  | 'je'
  | 'evt'
  | 'rec'
  | 'exc'
  | 'res'
  | 'aud'
  | 'stmt'
  | 'rev'
  | 'sac'
  | 'rtx'
  | 'key'
  | 'ses'
  | 'mem'
  | 'pk'
  | 'pli'
  | 'scl'
  | 'hld'
  | 'scr'
  | 'frz'
  | 'trv';

/** Random bytes drawn from the system's generator a few thousand ids at a time (one call per id cost more than the id); each byte serves one id. */
const pool = Buffer.alloc(12 * 4096);
let used = pool.length;

export function newId(prefix: IdPrefix): string {
  if (used === pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const id = `${prefix}_${pool.toString('hex', used, used + 12)}`;
  used += 12;
  return id;
}

export function isId(prefix: IdPrefix, value: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-f]{24}$`).test(value);
}
