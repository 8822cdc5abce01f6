/**
 * The Node primitives the statement verifier's code path uses — `Buffer` (bytes, hex),
 * `createHash('sha256')` and `hash('sha256', …)` — for the verifier's browser bundle, which puts
 * these in their place.
 * Only what that path calls is here, with Node's results: the same code checks a statement in
 * the auditor's browser and in `npx clinicpay verify`.
 */
import { sha256 } from 'viem';

const HEX_PAIR = /^[0-9a-fA-F]{2}$/;

/** `bytes` as a {@link BrowserBuffer} (its methods, the same memory). */
function asBuffer(bytes: Uint8Array<ArrayBuffer>): BrowserBuffer {
  return Object.setPrototypeOf(bytes, BrowserBuffer.prototype) as BrowserBuffer;
}

/** Bytes with Node's `Buffer.from` and `toString` for hex and UTF-8. */
class BrowserBuffer extends Uint8Array<ArrayBuffer> {
  /** Like Node's: hex is read pair by pair up to the first pair that is not hex. */
  static override from(value: unknown, encoding?: unknown): BrowserBuffer {
    if (typeof value !== 'string') return asBuffer(new Uint8Array(value as ArrayLike<number>));
    if (encoding !== 'hex') return asBuffer(new TextEncoder().encode(value));
    const bytes: number[] = [];
    for (let at = 0; at + 1 < value.length; at += 2) {
      const pair = value.slice(at, at + 2);
      if (!HEX_PAIR.test(pair)) break;
      bytes.push(Number.parseInt(pair, 16));
    }
    return asBuffer(new Uint8Array(bytes));
  }

  static isBuffer(value: unknown): value is BrowserBuffer {
    return value instanceof BrowserBuffer;
  }

  static concat(parts: readonly Uint8Array[]): BrowserBuffer {
    const joined = asBuffer(new Uint8Array(parts.reduce((total, part) => total + part.length, 0)));
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    return joined;
  }

  override toString(encoding?: string): string {
    if (encoding === 'hex') return Array.from(this, (byte) => byte.toString(16).padStart(2, '0')).join('');
    return new TextDecoder().decode(this);
  }
}

export { BrowserBuffer as Buffer };

/** Node's `createHash`, for SHA-256 only: `update` with text (UTF-8) or bytes, then `digest`. */
export function createHash(algorithm: string) {
  if (algorithm !== 'sha256') throw new Error(`only sha256 is available here, not ${algorithm}`);
  const parts: Uint8Array[] = [];
  const hash = {
    update(data: string | Uint8Array) {
      parts.push(typeof data === 'string' ? new TextEncoder().encode(data) : data);
      return hash;
    },
    digest(encoding?: 'hex') {
      const digest = BrowserBuffer.from(sha256(BrowserBuffer.concat(parts), 'bytes'));
      return encoding === 'hex' ? digest.toString('hex') : digest;
    },
  };
  return hash;
}

/** Node's one-shot `hash`, for SHA-256 only: text (UTF-8) or bytes, to hex (Node's default) or a Buffer. */
export function hash(algorithm: string, data: string | Uint8Array, outputEncoding: 'hex' | 'buffer' = 'hex') {
  return createHash(algorithm)
    .update(data)
    .digest(outputEncoding === 'hex' ? 'hex' : undefined);
}
