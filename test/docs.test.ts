/**
 * The project's documents point only at files that exist: every relative link in its Markdown,
 * and every `docs/….md` a source file names.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const SKIP = new Set(['node_modules', '.git', '.data', 'dist', 'test-results']);

function walk(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => !SKIP.has(entry.name))
    .flatMap((entry) => (entry.isDirectory() ? walk(path.join(dir, entry.name)) : [path.join(dir, entry.name)]));
}

const files = walk(ROOT);
const markdown = files.filter((file) => file.endsWith('.md'));

describe('the documents', () => {
  it('include the architecture, the decisions and the README', () => {
    const names = markdown.map((file) => path.relative(ROOT, file));
    expect(names).toContain('README.md');
    expect(names).toContain(path.join('docs', 'architecture.md'));
    expect(names.filter((name) => name.startsWith(path.join('docs', 'decisions'))).length).toBeGreaterThanOrEqual(7);
  });

  it('link only to files that exist', () => {
    const broken: string[] = [];
    let links = 0;
    for (const file of markdown) {
      const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1]!.split('#')[0]!;
        if (target === '' || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        links += 1;
        if (!fs.existsSync(path.resolve(path.dirname(file), target))) broken.push(`${path.relative(ROOT, file)} → ${match[1]}`);
      }
    }
    expect(links).toBeGreaterThan(10);
    expect(broken).toEqual([]);
  });

  it('are where the sources say they are', () => {
    const missing: string[] = [];
    for (const file of files.filter((candidate) => /\.(ts|mjs|js)$/.test(candidate) && candidate.includes(`${path.sep}src${path.sep}`))) {
      for (const match of fs.readFileSync(file, 'utf8').matchAll(/\b((?:docs\/[\w./-]+|[A-Z]+)\.md)\b/g)) {
        if (!fs.existsSync(path.join(ROOT, match[1]!))) missing.push(`${path.relative(ROOT, file)} names ${match[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });
});
