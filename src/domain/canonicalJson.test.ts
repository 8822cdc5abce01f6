import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonicalJson.js';

/** The same members, in the opposite order, at every level. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([key, member]) => [key, reversed(member)]),
  );
}

describe('canonicalJson', () => {
  it('writes the same text whether the keys come in order or not', () => {
    const inOrder = {
      a: [true, null, 'x', { c: 1.5, d: -0 }],
      b: { e: 'quote " and \\ and \n', f: [] },
      g: { h: 1e21, i: 'é😀' },
    };
    const text = '{"a":[true,null,"x",{"c":1.5,"d":0}],"b":{"e":"quote \\" and \\\\ and \\n","f":[]},"g":{"h":1e+21,"i":"é😀"}}';
    expect(canonicalJson(inOrder)).toBe(text);
    expect(canonicalJson(reversed(inOrder))).toBe(text);
  });

  it('sorts keys by UTF-16 code units, integer-like keys included (RFC 8785 §3.2.3)', () => {
    const text = '{"10":1,"9":2,"a":3,"é":4,"😀":5}';
    expect(canonicalJson({ '😀': 5, é: 4, a: 3, '9': 2, '10': 1 })).toBe(text);
    // JavaScript lists integer-like keys first, in numeric order: "9" before "10".
    expect(canonicalJson({ '9': 2, '10': 1, a: 3, é: 4, '😀': 5 })).toBe(text);
  });

  it('leaves out members that are undefined, in order or not', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson({ b: 1, a: undefined })).toBe('{"b":1}');
  });

  it('writes what JSON.stringify would write differently key by key', () => {
    // A class instance's own members, in order, rather than anything its prototype says.
    class Point {
      constructor(
        readonly x = 1,
        readonly y = 2,
      ) {}
      toJSON() {
        return 'a point';
      }
    }
    expect(canonicalJson({ at: new Point() })).toBe('{"at":{"x":1,"y":2}}');
    expect(canonicalJson({ at: new Date(0) })).toBe('{"at":{}}');
  });

  it('refuses what canonical JSON cannot hold, in order or not', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1, b: Number.POSITIVE_INFINITY })).toThrow(TypeError);
    expect(() => canonicalJson([1, undefined])).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1n })).toThrow(TypeError);
    expect(() => canonicalJson({ a: 1, toJSON: () => 'x' })).toThrow(TypeError);
  });
});
