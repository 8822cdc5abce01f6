import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditPath, leafHash, MerkleAccumulator, merkleRoot, nodeHash, rootFromAuditPath } from './merkle.js';

/** RFC 6962's definition, written out recursively: the reference the fast versions must equal. */
function referenceRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return createHash('sha256').digest();
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(referenceRoot(leaves.slice(0, k)), referenceRoot(leaves.slice(k)));
}

const leaves = (n: number) => Array.from({ length: n }, (_, index) => leafHash(`line ${index}`));

describe('merkle', () => {
  it('hashes leaves and nodes with distinct prefixes', () => {
    expect(leafHash('a').toString('hex')).toBe(
      createHash('sha256')
        .update(Buffer.from([0]))
        .update('a')
        .digest('hex'),
    );
    // Text is hashed as its UTF-8 bytes, the same leaf as those bytes.
    const text = 'line é 😀';
    expect(leafHash(text).toString('hex')).toBe(
      createHash('sha256')
        .update(Buffer.from([0]))
        .update(Buffer.from(text, 'utf8'))
        .digest('hex'),
    );
    expect(leafHash(new TextEncoder().encode(text)).equals(leafHash(text))).toBe(true);
    const [a, b] = [leafHash('a'), leafHash('b')];
    expect(nodeHash(a, b).toString('hex')).toBe(
      createHash('sha256')
        .update(Buffer.from([1]))
        .update(a)
        .update(b)
        .digest('hex'),
    );
  });

  it('the empty tree is SHA-256 of nothing', () => {
    expect(merkleRoot([]).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('matches the RFC 6962 definition for every size up to 70', () => {
    for (let n = 1; n <= 70; n += 1) expect(merkleRoot(leaves(n)).equals(referenceRoot(leaves(n))), `size ${n}`).toBe(true);
  });

  it('matches the RFC 6962 test vector for the tree of the eight reference inputs', () => {
    // Inputs and root from Certificate Transparency's merkle_tree_test (RFC 6962 reference data).
    const inputs = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map((hex) =>
      leafHash(Buffer.from(hex, 'hex')),
    );
    expect(merkleRoot(inputs).toString('hex')).toBe('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
  });

  it('every audit path of every leaf leads to the root, and no other leaf or index does', () => {
    for (const n of [1, 2, 3, 5, 8, 13, 33]) {
      const tree = leaves(n);
      const root = merkleRoot(tree);
      for (let index = 0; index < n; index += 1) {
        const path = auditPath(index, tree);
        expect(rootFromAuditPath(index, n, tree[index]!, path)?.equals(root), `leaf ${index} of ${n}`).toBe(true);
        expect(rootFromAuditPath(index, n, leafHash('forged'), path)?.equals(root) ?? false).toBe(false);
        if (n > 1) expect(rootFromAuditPath((index + 1) % n, n, tree[index]!, path)?.equals(root) ?? false).toBe(false);
      }
    }
  });

  // A path alone does not pin the tree size for leaves of a complete left subtree (RFC 6962
  // proofs never do): statements pin it with line numbers and a closing line that comes last.
  it('refuses a leaf outside the tree', () => {
    expect(() => auditPath(3, leaves(3))).toThrow(RangeError);
    expect(rootFromAuditPath(3, 3, leafHash('x'), [])).toBeUndefined();
  });

  it('the accumulator counts and roots as it goes', () => {
    const accumulator = new MerkleAccumulator();
    const tree = leaves(9);
    tree.forEach((leaf, index) => {
      accumulator.push(leaf);
      expect(accumulator.root().equals(referenceRoot(tree.slice(0, index + 1)))).toBe(true);
    });
    expect(accumulator.size).toBe(9);
  });
});
