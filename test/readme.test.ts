/**
 * The README and the code must not drift apart: the configuration table lists exactly the
 * variables config.ts declares, and the quickstart commands are the package's own.
 */
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/platform/config.js';

const readme = fs.readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

describe('README', () => {
  it('has one configuration row per declared variable, with its default', () => {
    const rows = [...readme.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]+) \|/gm)].map((match) => ({ name: match[1], default: match[2]!.trim() }));
    expect(rows.map((row) => row.name).sort()).toEqual(CONFIG_VARIABLES.map((variable) => variable.name).sort());
    for (const variable of CONFIG_VARIABLES) expect(rows).toContainEqual({ name: variable.name, default: variable.default });
  });

  it('shows the two-command quickstart and the test command, and they exist', () => {
    expect(readme).toContain('npm install\nnpm start');
    expect(readme).toContain('npm test');
    expect(pkg.scripts.start).toBeDefined();
    expect(pkg.scripts.test).toContain('vitest run');
    expect(fs.readFileSync(new URL('../.ci/run', import.meta.url), 'utf8')).toContain('npm test');
  });

  it('no source file outside config.ts and the CLI entry reads process.env', () => {
    const offenders: string[] = [];
    const walk = (dir: URL) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const child = new URL(`${entry.name}${entry.isDirectory() ? '/' : ''}`, dir);
        if (entry.isDirectory()) walk(child);
        else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') && fs.readFileSync(child, 'utf8').includes('process.env'))
          offenders.push(child.pathname);
      }
    };
    walk(new URL('../src/', import.meta.url));
    expect(offenders.map((file) => file.replace(/.*\/src\//, 'src/')).sort()).toEqual(['src/cli.ts', 'src/platform/config.ts']);
  });
});
