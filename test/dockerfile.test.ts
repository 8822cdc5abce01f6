/**
 * The Dockerfile cannot be built here (no container engine), so this test reads it: the image
 * runs as a non-root user with a health check, starts the gateway in production, and trims from
 * its dependencies only what the gateway never loads (the font weights it keeps are exactly the
 * ones the PDF renderer uses, and TypeScript is nothing the gateway requires).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

describe('Dockerfile', () => {
  it('runs the gateway in production as a non-root user, with a health check', () => {
    expect(dockerfile).toMatch(/^ENV NODE_ENV=production/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD .*\/health/m);
    expect(dockerfile).toMatch(/^CMD \["node", "bin\/clinicpay\.mjs", "start"\]$/m);
  });

  it('keeps exactly the font weights the PDFs use, and drops TypeScript, which no runtime file requires', () => {
    const fonts = fs.readFileSync(path.join(ROOT, 'src/reports/pdfFonts.ts'), 'utf8');
    const used = [...fonts.matchAll(/'@expo-google-fonts\/noto-sans-sc\/([^/]+)\//g)].map((match) => match[1]!).sort();
    const kept = [...dockerfile.matchAll(/! -name (\S+)/g)].map((match) => match[1]!).sort();
    expect(used.length).toBeGreaterThan(0);
    expect(kept).toEqual(used);
    expect(dockerfile).toContain('rm -rf node_modules/typescript');
    const sources = fs
      .readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'));
    for (const file of sources) expect(fs.readFileSync(path.join(ROOT, 'src', file), 'utf8'), file).not.toMatch(/from 'typescript'|require\('typescript'\)/);
  });
});
