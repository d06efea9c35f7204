/**
 * The API documentation page (/docs) in real headless Chromium with no network: every request
 * that does not go to the test server on 127.0.0.1 is aborted and recorded. Swagger UI must
 * render openapi.yaml from the server's own files, with no console error and no violation of
 * the page's Content-Security-Policy. A screenshot lands in test-output/screenshots/docs.png.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { TestDatabase } from '../support/databases';
import { startServer, type RunningServer } from '../support/server';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const WAIT_MS = 10_000;
const SCREENSHOTS = resolve(__dirname, '..', '..', 'test-output', 'screenshots');

describe('API documentation (/docs) in a real browser without network', () => {
  const db = new TestDatabase('sqlite');
  let browser: Browser;
  let context: BrowserContext | undefined;
  let server: RunningServer;

  before(async function () {
    this.timeout(60_000);
    await db.setup();
    server = await startServer(db.store);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await server?.close();
    await db.teardown();
  });

  it('Swagger UI renders the spec from the server alone: title, operations, no outside request, no console error, no CSP violation', async function () {
    this.timeout(60_000);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(WAIT_MS);
    const outside: string[] = [];
    const served: string[] = [];
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' && url.port === new URL(server.url).port) {
        served.push(url.pathname);
        return route.continue();
      }
      outside.push(route.request().url());
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
    // Violations are reported to the page as events; collect them before any script runs.
    await page.addInitScript(() => {
      (window as unknown as { cspViolations: string[] }).cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        (window as unknown as { cspViolations: string[] }).cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });

    const response = await page.goto(`${server.url}/docs`);
    expect(response?.status()).to.equal(200);
    expect(response?.headers()['content-security-policy']).to.include("script-src 'self'");
    await page.locator('.swagger-ui .info .title').waitFor();
    expect(await page.locator('.swagger-ui .info .title').innerText()).to.match(/^oauth2-devices/);
    const paths = await page.locator('.opblock-summary-path').allInnerTexts();
    for (const path of ['/oauth/device_authorization', '/oauth/token', '/oauth/revoke', '/healthz', '/readyz', '/metrics']) {
      expect(paths.map((p) => p.replace(/\u200b/g, '').trim()), path).to.include(path);
    }
    await page.screenshot({ path: join(SCREENSHOTS, 'docs.png'), fullPage: false });
    // Open one operation: its responses render too.
    await page.locator('.opblock-summary-path', { hasText: '/readyz' }).first().click();
    await page.locator('.opblock.is-open .responses-table').first().waitFor();
    // "Try it out" calls this server (servers: names the issuer) and shows its answer.
    await page.locator('.opblock.is-open .try-out__btn').click();
    await page.locator('.opblock.is-open .execute').click();
    const status = page.locator('.opblock.is-open .live-responses-table tbody .response-col_status').first();
    await status.waitFor();
    expect((await status.innerText()).trim()).to.equal('200');

    const violations = await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    expect(outside, 'requests that tried to leave 127.0.0.1').to.deep.equal([]);
    expect(consoleErrors, 'console errors').to.deep.equal([]);
    expect(violations, 'CSP violations').to.deep.equal([]);
    expect(served).to.include.members(['/docs', '/docs/swagger-ui.css', '/docs/swagger-ui-bundle.js', '/docs/docs-init.js', '/openapi.yaml', '/readyz']);
  });
});
