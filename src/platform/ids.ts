/**
 * Object ids: a type prefix and 96 random bits, e.g. `inv_3f9a…` (24 hex digits).
 * Random rather than sequential, so an id reveals nothing about volume or order.
 */
import { randomBytes } from 'node:crypto';

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

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(12).toString('hex')}`;
}

export function isId(prefix: IdPrefix, value: string): boolean {
  return new RegExp(`^${prefix}_[0-9a-f]{24}$`).test(value);
}
