/**
 * The console when what it stands on goes away, with real components: the gateway's database
 * reached through a TCP proxy the test cuts (every connection dropped, new ones refused), and a
 * chain node that is not there. Pages say so in the person's language instead of failing
 * blankly; the session survives the outage; nothing is written while it lasts.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../src/platform/db.js';
import { describeFindings, hasChromium, installAxe, launchChromium, runAxe, TEST_RESULTS_DIR } from './support/browser.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { newClinic } from './support/settlement.js';
import { browse, type CookieJar, csrfOf, type SignInStack, signInAs, startSignInStack } from './support/signIn.js';
import { startTcpProxy, type TcpProxy } from './support/tcpProxy.js';

const RESULTS_DIR = path.join(TEST_RESULTS_DIR, 'console');

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the console without its database or its chain node', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let db: Db;
  let stack: SignInStack;
  let noChain: SignInStack;
  let clinicId: string;

  beforeAll(async () => {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    database = await createTestDatabase();
    const target = new URL(database.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) });
    const proxied = new URL(database.url);
    proxied.port = String(proxy.port);
    db = createDb({ connectionString: proxied.toString(), poolMax: 4 });
    clinicId = (await newClinic({ db: database.db })).id;
    stack = await startSignInStack({ db, clinicId, hostname: 'localhost' });
    noChain = await startSignInStack({ db: database.db, clinicId, rpcUrl: `http://127.0.0.1:${await deadPort()}` });
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await noChain?.close();
    await db?.destroy();
    await proxy?.close();
    await database?.close();
  });

  it('answers a page without the database with a 503 page that says so, in the person’s language; the same session works again once it is back', async () => {
    const { jar } = await signInAs(stack, 'clinicadmin');
    expect((await browse(jar, `${stack.url}/console/bills`)).status).toBe(200);
    const csrf = await csrfOf(stack, jar);
    const pricesBefore = await database.db('price_list_items').count('* as n').first();

    proxy.cut();
    try {
      for (const [language, words] of [
        ['en', 'ClinicPay cannot reach its database just now'],
        ['zh-HK', 'ClinicPay 暫時無法連接資料庫'],
        ['zh-CN', 'ClinicPay 暂时无法连接数据库'],
      ] as const) {
        const page = await browse(jar, `${stack.url}/console/bills?lang=${language}&q=HK-123`);
        expect(page.status, page.body.slice(0, 300)).toBe(503);
        expect(page.headers.get('content-type')).toContain('text/html');
        expect(page.headers.get('content-language')).toBe(language);
        expect(page.headers.get('retry-after')).toBe('30');
        expect(page.body).toContain(words);
        // "Try again" goes back to the page, without what was typed into its query.
        expect(page.body).toContain('href="/console/bills"');
        expect(page.body).not.toContain('HK-123');
        // The session cookie is kept: nothing told the browser to forget it.
        expect(page.headers.getSetCookie()).toEqual([]);
      }
      // A write through the API during the outage fails whole, with a problem, not a page.
      const write = await browse(jar, `${stack.url}/v1/price-list`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', 'x-csrf-token': csrf, 'idempotency-key': crypto.randomUUID() },
      });
      expect(write.status).toBeGreaterThanOrEqual(500);
      expect(write.headers.get('content-type')).toContain('application/problem+json');
      // The page's words, a screenshot and no accessibility violations.
      if (hasChromium) await lookAt(jar, `${stack.url}/console/bills`);
    } finally {
      proxy.restore();
    }
    // Back: the same session, no new sign-in, and nothing was written while it was away.
    await expect.poll(async () => (await browse(jar, `${stack.url}/console/bills`)).status, { timeout: 20_000 }).toBe(200);
    expect(await database.db('price_list_items').count('* as n').first()).toEqual(pricesBefore);
  });

  it('says on finance’s dashboard that the chain node cannot be reached, and still shows what the database knows', async () => {
    const { jar } = await signInAs(noChain, 'finance1');
    const page = await browse(jar, `${noChain.url}/console/finance`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('The chain node cannot be reached just now');
    expect(page.body).toContain('id="takings-today"');
  });
});

/** Opens `url` in Chromium with the jar's session: the words, no accessibility violations, a screenshot. */
async function lookAt(jar: CookieJar, url: string): Promise<void> {
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
    await context.addCookies(
      [...jar.cookies].map(([name, value]) => ({ name, value, domain: 'localhost', path: '/', secure: name.startsWith('__Host-'), sameSite: 'Lax' as const })),
    );
    await installAxe(context);
    const page = await context.newPage();
    for (const [language, heading] of [
      ['en', 'ClinicPay cannot reach its database just now'],
      ['zh-HK', 'ClinicPay 暫時無法連接資料庫'],
      ['zh-CN', 'ClinicPay 暂时无法连接数据库'],
    ] as const) {
      const answer = await page.goto(`${url}?lang=${language}`);
      expect(answer?.status()).toBe(503);
      expect(await page.textContent('h1')).toBe(heading);
      const findings = await runAxe(page);
      expect(findings, describeFindings(findings)).toEqual([]);
      await page.screenshot({ path: path.join(RESULTS_DIR, `outage-database-${language}.png`), fullPage: true });
    }
  } finally {
    await browser?.close();
  }
}
