/**
 * Secrets at rest (clinics' webhook secrets): AES-256-GCM under a key from the configuration
 * (`SECRETS_KEYS`), each value carrying the id of the key that sealed it, so keys can be rotated:
 * new values are sealed with the first key, and every listed key still opens what it sealed.
 *
 * A sealed value is `v1.<key id>.<base64url(iv ‖ tag ‖ ciphertext)>`. What it is for (the
 * "context", e.g. `webhook_secret:clin_…`) is authenticated with it, so a value moved to another
 * row or column does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface SecretKey {
  /** Short name, stored with every value it seals. */
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)$/;

/** A sealed value that no configured key opens, or that was changed. */
export class SecretUnreadableError extends Error {
  override name = 'SecretUnreadableError';
}

export class SecretBox {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly current: SecretKey;

  /** `keys[0]` seals; all of them open. */
  constructor(keys: readonly SecretKey[]) {
    if (keys.length === 0) throw new RangeError('a secret box needs at least one key');
    for (const { id, key } of keys) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) throw new RangeError(`key id "${id}" is not 1 to 32 letters, digits, - or _`);
      if (key.length !== 32) throw new RangeError(`key "${id}" is ${key.length} bytes, not 32`);
    }
    this.keys = new Map(keys.map(({ id, key }) => [id, key]));
    this.current = keys[0]!;
  }

  /** Whether `value` is sealed (rather than plain text stored before sealing existed). */
  static isSealed(value: string): boolean {
    return SEALED.test(value);
  }

  /** Whether `sealed` is sealed with the key that seals now (otherwise it is worth sealing again). */
  isCurrent(sealed: string): boolean {
    return SEALED.exec(sealed)?.[1] === this.current.id;
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${VERSION}.${this.current.id}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(sealed: string, context: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new SecretUnreadableError('the value is not a sealed secret');
    const key = this.keys.get(match[1]!);
    if (!key) throw new SecretUnreadableError(`no configured key "${match[1]}" opens this secret`);
    const raw = Buffer.from(match[2]!, 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretUnreadableError('the secret does not open: changed, or sealed for something else');
    }
  }
}

/** Parses `SECRETS_KEYS`: `id:base64key[,id:base64key…]`, each key 32 bytes. */
export function parseSecretKeys(text: string): SecretKey[] {
  return text.split(',').map((item) => {
    const [id, encoded, extra] = item.trim().split(':');
    if (!id || !encoded || extra !== undefined) throw new RangeError('each key is id:base64 (32 bytes)');
    return { id, key: Buffer.from(encoded, 'base64') };
  });
}
