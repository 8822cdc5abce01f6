/**
 * Browser tests with `playwright-core` driving Debian's Chromium (`/usr/bin/chromium`): never a
 * downloaded browser. The app listens on a real port; pages are checked for script errors and
 * Content-Security-Policy violations, and for accessibility with axe-core injected in the page
 * (as an init script, so under the page's own CSP).
 *
 * The test project has no DOM typings, so what runs in the page is written as strings.
 */
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Express } from 'express';
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Whether Debian's `chromium` package is installed (the browser tests skip without it). */
export const hasChromium = fs.existsSync(CHROMIUM_PATH);

/** Where browser tests leave screenshots and measurements for review (git-ignored). */
export const TEST_RESULTS_DIR = path.resolve(import.meta.dirname, '..', '..', 'test-results');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH });
}

/** A phone in a clinic lobby: 390×844 CSS pixels at 2× density, touch. */
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

export interface Served {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  close(): Promise<void>;
}

/** Serves `app` on a free port of the loopback interface. */
export async function serve(app: Express): Promise<Served> {
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

export interface PageProblems {
  /** Console messages of type `error` (a CSP violation is logged as one). */
  consoleErrors: string[];
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** `securitypolicyviolation` events, as `directive blocked-uri`. */
  cspViolations(): Promise<string[]>;
}

/**
 * Starts recording what goes wrong in `page` (call before navigating). CSP violations are caught
 * twice: by the console, and by a `securitypolicyviolation` listener installed before any page
 * script (an init script is not subject to the page's CSP).
 */
export async function watchProblems(page: Page): Promise<PageProblems> {
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${message.text()} [${message.location().url}]`);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.addInitScript(`
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', function (event) {
      window.__cspViolations.push(event.effectiveDirective + ' ' + event.blockedURI);
    });
  `);
  return { consoleErrors, pageErrors, cspViolations: () => page.evaluate<string[]>('window.__cspViolations || []') };
}

export interface AxeFinding {
  rule: string;
  impact: string | null;
  help: string;
  nodes: { target: string; summary: string }[];
}

/**
 * Makes axe-core available in every page of `context`, before the page's own scripts. An init
 * script is not subject to the page's Content-Security-Policy, so pages are audited as patients
 * get them: no `bypassCSP`, whose inline `<script>` injection the strict CSP would refuse.
 */
export async function installAxe(context: BrowserContext): Promise<void> {
  const source = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await context.addInitScript({ content: source });
}

/** Runs axe-core (see {@link installAxe}) on what `page` shows and returns its violations. */
export async function runAxe(page: Page): Promise<AxeFinding[]> {
  const { rulesPassed, findings } = await page.evaluate<{ rulesPassed: number; findings: AxeFinding[] }>(`
    axe.run(document, { resultTypes: ['violations'] }).then(function (results) {
      return { rulesPassed: results.passes.length, findings: results.violations.map(function (violation) {
        return {
          rule: violation.id,
          impact: violation.impact || null,
          help: violation.help,
          nodes: violation.nodes.map(function (node) { return { target: node.target.join(' '), summary: node.failureSummary || '' }; }),
        };
      }) };
    })
  `);
  // A guard against a run that checked nothing (axe not loaded, an empty document).
  if (rulesPassed === 0) throw new Error(`axe-core checked nothing on ${page.url()}`);
  return findings;
}

/** One line per finding, for assertion messages and the test log. */
export function describeFindings(findings: AxeFinding[]): string {
  return findings
    .map((finding) => `${finding.impact ?? '?'} ${finding.rule} (${finding.help}): ${finding.nodes.map((node) => node.target).join(', ')}`)
    .join('\n');
}

/** What the browser measured of the page `page` shows: its weight (document and each resource, as transferred) and when it was interactive. */
export interface PageFigures {
  documentBytes: number;
  resources: { name: string; transferSize: number }[];
  /** The end of DOMContentLoaded, by when deferred scripts have run, in ms from navigation start. */
  interactiveMs: number;
}

export function pageFigures(page: Page): Promise<PageFigures> {
  return page.evaluate<PageFigures>(`(function () {
    var nav = performance.getEntriesByType('navigation')[0];
    return {
      documentBytes: nav.transferSize,
      resources: performance.getEntriesByType('resource').map(function (entry) { return { name: new URL(entry.name).pathname, transferSize: entry.transferSize }; }),
      interactiveMs: Math.round(nav.domContentLoadedEventEnd),
    };
  })()`);
}
