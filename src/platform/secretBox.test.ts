import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox, SecretUnreadableError } from './secretBox.js';

const key1 = { id: 'k1', key: randomBytes(32) };
const key2 = { id: 'k2', key: randomBytes(32) };

describe('SecretBox', () => {
  it('seals to a value that names its key, holds nothing of the secret, and opens in the same context', () => {
    const box = new SecretBox([key1]);
    const sealed = box.seal('whsec_abc', 'clinics.webhook_secret:clin_1');
    expect(sealed).toMatch(/^v1\.k1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('whsec');
    expect(SecretBox.isSealed(sealed)).toBe(true);
    expect(SecretBox.isSealed('whsec_abc')).toBe(false);
    expect(box.open(sealed, 'clinics.webhook_secret:clin_1')).toBe('whsec_abc');
    // A fresh IV every time: the same secret never seals to the same text.
    expect(box.seal('whsec_abc', 'clinics.webhook_secret:clin_1')).not.toBe(sealed);
  });

  it('refuses another context, a changed value, and a key it does not hold', () => {
    const box = new SecretBox([key1]);
    const sealed = box.seal('whsec_abc', 'a');
    expect(() => box.open(sealed, 'b')).toThrow(SecretUnreadableError);
    const body = sealed.split('.')[2]!;
    const flipped = `v1.k1.${body.slice(0, -2)}${body.at(-2) === 'A' ? 'B' : 'A'}${body.at(-1)}`;
    expect(() => box.open(flipped, 'a')).toThrow(SecretUnreadableError);
    expect(() => new SecretBox([key2]).open(sealed, 'a')).toThrow(/no configured key "k1"/);
    expect(() => box.open('whsec_plain', 'a')).toThrow(SecretUnreadableError);
  });

  it('seals with the first key and opens with any: keys rotate', () => {
    const old = new SecretBox([key1]).seal('s', 'c');
    const rotated = new SecretBox([key2, key1]);
    expect(rotated.isCurrent(old)).toBe(false);
    expect(rotated.open(old, 'c')).toBe('s');
    const fresh = rotated.seal('s', 'c');
    expect(rotated.isCurrent(fresh)).toBe(true);
    expect(new SecretBox([key2]).open(fresh, 'c')).toBe('s');
  });

  it('takes only 32-byte keys with short ids, and at least one', () => {
    expect(() => new SecretBox([])).toThrow(RangeError);
    expect(() => new SecretBox([{ id: 'k', key: randomBytes(16) }])).toThrow(/16 bytes/);
    expect(() => new SecretBox([{ id: 'a.b', key: randomBytes(32) }])).toThrow(RangeError);
  });
});
