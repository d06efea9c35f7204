/**
 * The activation pages in a real headless browser (Debian's Chromium through playwright-core),
 * against the real server on 127.0.0.1 and a real database, while a device polls over HTTP.
 * The pages are driven only by typing, clicking and the keyboard, as a person would. Nothing
 * is mocked. Screenshots of the pages are written on the SQLite pass to
 * test-output/screenshots/.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { en } from '../../src/views/messages/en';
import { de } from '../../src/views/messages/de';
import { flowRow, poll, startFlow, type Flow } from '../activation/flow';
import { forEachDatabase, type TestDatabase } from '../support/databases';
import { makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Every wait in this file is bounded by this. */
const WAIT_MS = 5_000;
const PHONE = { width: 390, height: 844 };
const SCREENSHOTS = resolve(__dirname, '..', '..', 'test-output', 'screenshots');

/** Codes in the right alphabet and shape (RFC 8628 §6.1) that no flow was given. */
function madeUpCodes(real: string, count: number): string[] {
  const candidates = ['BCDF-GHJK', 'BCDF-GHJL', 'BCDF-GHJM', 'BCDF-GHJN', 'BCDF-GHJP', 'BCDF-GHJQ', 'BCDF-GHJR'];
  return candidates.filter((code) => code !== real).slice(0, count);
}

function isLocal(url: URL | string): boolean {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  return parsed.hostname === '127.0.0.1';
}

/**
 * Does `action` (a click or a key press that submits a form or follows a link) and waits, bounded,
 * for the main-frame document response that matches `path` and `method` and for the new page's
 * load event. Returns that response (for a POST answered with a redirect, the 303 itself).
 */
async function navigateBy(page: Page, action: () => Promise<unknown>, method: string, path: string): Promise<Response> {
  const response = page.waitForResponse(
    (r) => r.request().isNavigationRequest() && r.frame() === page.mainFrame() && r.request().method() === method && new URL(r.url()).pathname === path,
    { timeout: WAIT_MS },
  );
  const loaded = page.waitForEvent('load', { timeout: WAIT_MS });
  const [reply] = await Promise.all([response, loaded, action()]);
  return reply;
}

async function heading(page: Page): Promise<string> {
  return ((await page.locator('h1').textContent({ timeout: WAIT_MS })) ?? '').trim();
}

async function activeElementId(page: Page): Promise<string> {
  return page.evaluate(() => document.activeElement?.id ?? '');
}

/**
 * The focused element once autofocus has had its turn: the browser applies autofocus at a
 * rendering update after the document is parsed, which may come after navigation resolves.
 * Waits up to 5 s for `expected`, then answers whatever has the focus.
 */
async function autofocusedId(page: Page, expected: string): Promise<string> {
  await page.waitForFunction((id) => document.activeElement?.id === id, expected, { timeout: 5000 }).catch(() => undefined);
  return activeElementId(page);
}

/** The flow's row says nobody decided, and the device is told to keep polling. */
async function expectPending(db: TestDatabase, server: RunningServer, flow: Flow): Promise<void> {
  const row = await flowRow(db, flow);
  expect(row.status, 'flow row status').to.equal('pending');
  expect(row.user_id).to.equal(null);
  const reply = await poll(server, flow);
  expect(reply.status, reply.text).to.equal(400);
  expect(reply.json.error).to.equal('authorization_pending');
}

forEachDatabase('activation pages in a real browser (RFC 8628 §3.3)', (db) => {
  let browser: Browser;
  let server: RunningServer;
  let context: BrowserContext | undefined;

  before(async function () {
    this.timeout(60_000);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
    server = await startServer(db.store);
    if (db.kind === 'sqlite') mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await server?.close();
    await browser?.close();
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  /** A fresh browser context (no cookies), phone-sized, that can only reach 127.0.0.1. */
  async function newPage(options: { locale?: string } = {}): Promise<Page> {
    context = await browser.newContext({ viewport: PHONE, deviceScaleFactor: 1, locale: options.locale ?? 'en-US' });
    context.setDefaultTimeout(WAIT_MS);
    context.setDefaultNavigationTimeout(WAIT_MS);
    // A guard: nothing leaves this machine, whatever a page asks for.
    await context.route((url) => !isLocal(url), (route) => route.abort('blockedbyclient'));
    return context.newPage();
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    if (db.kind !== 'sqlite') return;
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true, timeout: WAIT_MS });
  }

  /** Fills the sign-in form by its labels and presses the button; returns the 303 of POST /signin. */
  async function signIn(page: Page, username: string, labels = en): Promise<Response> {
    await page.getByLabel(labels['signIn.username'], { exact: true }).fill(username);
    await page.getByLabel(labels['signIn.password'], { exact: true }).fill(TEST_PASSWORD);
    const reply = await navigateBy(page, () => page.getByRole('button', { name: labels['signIn.submit'], exact: true }).click(), 'POST', '/signin');
    expect(reply.status(), 'POST /signin').to.equal(303);
    return reply;
  }

  /** Opens /signin, signs a new person in, and ends on /activate. */
  async function signedInPage(options: { locale?: string; labels?: typeof en } = {}) {
    const user = await makeUser(db.store);
    const page = await newPage(options);
    const first = await page.goto(`${server.url}/signin`);
    expect(first?.status()).to.equal(200);
    await signIn(page, user.username, options.labels);
    expect(new URL(page.url()).pathname).to.equal('/activate');
    return { page, user };
  }

  /** Types a code on the enter-code page, presses Continue, and returns the answer to POST /activate. */
  async function enterCode(page: Page, typed: string, labels = en): Promise<Response> {
    await page.getByLabel(labels['enterCode.label'], { exact: true }).fill(typed);
    return navigateBy(page, () => page.getByRole('button', { name: labels['enterCode.submit'], exact: true }).click(), 'POST', '/activate');
  }

  it('RFC 8628 §3.3, §6.1: a person signs in, types the code in lower case without the dash, approves, and the polling device gets a token for that person; the pages load no script, talk only to 127.0.0.1 and log no error or CSP violation', async () => {
    const flow = await startFlow(server, db.store, { scope: 'profile email', client: { name: 'Living Room TV' } });
    const user = await makeUser(db.store);
    const page = await newPage();

    const requests: Array<{ url: string; type: string }> = [];
    const consoleErrors: string[] = [];
    page.on('request', (request) => requests.push({ url: request.url(), type: request.resourceType() }));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
    // Runs through DevTools, not the page, so the CSP does not stop it; it only listens.
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { __cspViolations: string[] }).__cspViolations = seen;
      document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const cspViolations: string[] = [];
    const collectPageFacts = async () => {
      cspViolations.push(...(await page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations ?? [])));
      expect(await page.evaluate(() => document.scripts.length), `<script> elements on ${page.url()}`).to.equal(0);
    };

    // The device has started and polls: nobody has decided yet.
    await expectPending(db, server, flow);

    const signInPage = await page.goto(`${server.url}/signin`);
    expect(signInPage?.status()).to.equal(200);
    expect(await heading(page)).to.equal(en['signIn.heading']);
    expect(await autofocusedId(page, 'username'), 'autofocus on username').to.equal('username');
    await page.getByLabel('Username', { exact: true }).fill(user.username);
    await page.getByLabel('Password', { exact: true }).fill(TEST_PASSWORD);
    await screenshot(page, 'signin');
    await collectPageFacts();
    const signedIn = await navigateBy(page, () => page.getByRole('button', { name: 'Sign in', exact: true }).click(), 'POST', '/signin');
    expect(signedIn.status()).to.equal(303);
    expect(new URL(page.url()).pathname).to.equal('/activate');
    expect(await heading(page)).to.equal(en['enterCode.heading']);
    expect(await page.locator('header').textContent()).to.include(user.name);

    const [first, second] = flow.userCode.split('-') as [string, string];
    const typed = `${first}${second}`.toLowerCase();
    expect(typed).not.to.include('-');
    await page.getByLabel('Code', { exact: true }).fill(typed);
    await screenshot(page, 'enter-code');
    await collectPageFacts();
    await expectPending(db, server, flow);

    const confirm = await navigateBy(page, () => page.getByRole('button', { name: 'Continue', exact: true }).click(), 'POST', '/activate');
    expect(confirm.status()).to.equal(200);
    expect(await heading(page)).to.equal('Living Room TV wants to connect to your account');
    expect((await page.locator('.code-display').textContent())?.trim()).to.equal(flow.userCode);
    expect(await page.getByText('See your name and username').count()).to.equal(1);
    expect(await page.getByText('See your email address').count()).to.equal(1);
    await screenshot(page, 'confirm');
    await collectPageFacts();
    // Seeing the confirm page decides nothing.
    await expectPending(db, server, flow);

    const result = await navigateBy(page, () => page.getByRole('button', { name: 'Approve', exact: true }).click(), 'POST', '/activate/decision');
    expect(result.status()).to.equal(200);
    expect(await heading(page)).to.equal(en['result.approved.heading']);
    expect(await page.locator('main').textContent()).to.include('Living Room TV can now use your account. Return to your device: it will continue by itself.');
    await screenshot(page, 'approved');
    await collectPageFacts();

    const token = await poll(server, flow);
    expect(token.status, token.text).to.equal(200);
    expect(token.json.token_type).to.equal('Bearer');
    expect(token.json.scope).to.equal('profile email');
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${token.json.access_token}` } });
    expect(me.status, me.text).to.equal(200);
    expect(me.json.username).to.equal(user.username);
    expect(me.json.sub).to.equal(user.id);

    expect(requests.length, 'the pages made requests').to.be.greaterThan(0);
    expect(requests.filter((r) => !isLocal(r.url)).map((r) => r.url), 'requests to other hosts').to.deep.equal([]);
    expect(requests.filter((r) => r.url.startsWith('http') && new URL(r.url).origin !== server.url).map((r) => r.url), 'requests to another origin').to.deep.equal([]);
    expect(requests.filter((r) => r.type === 'script').map((r) => r.url), 'scripts loaded').to.deep.equal([]);
    expect(consoleErrors, 'console errors').to.deep.equal([]);
    expect(cspViolations, 'CSP violations').to.deep.equal([]);
  });

  it('RFC 8628 §3.5: pressing Deny shows the denied page and the polling device gets access_denied', async () => {
    const flow = await startFlow(server, db.store, { client: { name: 'Garage Display' } });
    const { page, user } = await signedInPage();
    await expectPending(db, server, flow);

    const confirm = await enterCode(page, flow.userCode);
    expect(confirm.status()).to.equal(200);
    expect(await heading(page)).to.equal('Garage Display wants to connect to your account');

    const result = await navigateBy(page, () => page.getByRole('button', { name: 'Deny', exact: true }).click(), 'POST', '/activate/decision');
    expect(result.status()).to.equal(200);
    expect(await heading(page)).to.equal(en['result.denied.heading']);
    expect(await page.locator('main').textContent()).to.include('Garage Display was not given access. You can return to your device.');
    await screenshot(page, 'denied');

    const row = await flowRow(db, flow);
    expect(row.status).to.equal('denied');
    expect(row.user_id).to.equal(user.id);
    const reply = await poll(server, flow);
    expect(reply.status, reply.text).to.equal(400);
    expect(reply.json.error).to.equal('access_denied');
  });

  it('RFC 8628 §3.3.1: verification_uri_complete opened signed out leads to sign-in, then to the confirm page with the code shown; nothing is approved until the click', async () => {
    const flow = await startFlow(server, db.store, { client: { name: 'Bedroom Stick' } });
    const user = await makeUser(db.store);
    const page = await newPage();
    const link = new URL(flow.verificationUriComplete);
    expect(link.origin).to.equal(server.url);

    const landed = await page.goto(flow.verificationUriComplete);
    expect(landed?.status()).to.equal(200);
    const signInUrl = new URL(page.url());
    expect(signInUrl.pathname).to.equal('/signin');
    expect(signInUrl.searchParams.get('return_to')).to.equal(`/activate?user_code=${flow.userCode}`);
    expect(await heading(page)).to.equal(en['signIn.heading']);
    await expectPending(db, server, flow);

    await signIn(page, user.username);
    const confirmUrl = new URL(page.url());
    expect(confirmUrl.pathname).to.equal('/activate');
    expect(confirmUrl.searchParams.get('user_code')).to.equal(flow.userCode);
    expect(await heading(page)).to.equal('Bedroom Stick wants to connect to your account');
    expect((await page.locator('.code-display').textContent())?.trim()).to.equal(flow.userCode);
    expect(await page.locator('form[action="/activate/decision"] input[name=user_code]').inputValue()).to.equal(flow.userCode);
    // The link pre-filled the code; it approved nothing.
    await expectPending(db, server, flow);

    const result = await navigateBy(page, () => page.getByRole('button', { name: 'Approve', exact: true }).click(), 'POST', '/activate/decision');
    expect(result.status()).to.equal(200);
    expect(await heading(page)).to.equal(en['result.approved.heading']);
    const token = await poll(server, flow);
    expect(token.status, token.text).to.equal(200);
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${token.json.access_token}` } });
    expect(me.json.username).to.equal(user.username);
  });

  it('RFC 8628 §3.2 expires_in: a code entered after its 900 s have passed is refused with 410 "Code expired"', async () => {
    const flow = await startFlow(server, db.store);
    const { page } = await signedInPage();
    server.clock.advance(901);

    const reply = await enterCode(page, flow.userCode);
    expect(reply.status()).to.equal(410);
    expect(await heading(page)).to.equal(en['codeExpired.title']);
    expect(await page.locator('main').textContent()).to.include(en['codeExpired.detail']);
    expect(await page.getByRole('button', { name: 'Approve' }).count()).to.equal(0);
    await screenshot(page, 'expired');

    const row = await flowRow(db, flow);
    expect(row.status).to.equal('pending');
    expect(row.user_id).to.equal(null);
    const device = await poll(server, flow);
    expect(device.json.error).to.equal('expired_token');
  });

  describe('with real guessing limits', () => {
    let limited: RunningServer;
    const clearCounters = () => db.knex('attempt_counters').delete();

    before(async () => {
      await clearCounters();
      limited = await startServer(db.store, { userCodeMaxFailures: 5, attemptBackoff: 0, guessCeilingBits: 32 });
    });
    after(async () => {
      await limited?.close();
      // The lock is kept in the shared database: leave none behind for the other tests.
      await clearCounters();
    });

    it('RFC 8628 §5.1: after 5 wrong codes the 6th attempt, even with the real code, gets the 429 "Too many attempts" page with Retry-After, and the flow is not approved', async () => {
      const flow = await startFlow(limited, db.store);
      const user = await makeUser(db.store);
      const page = await newPage();
      expect((await page.goto(`${limited.url}/signin`))?.status()).to.equal(200);
      await signIn(page, user.username);

      const wrong = madeUpCodes(flow.userCode, 5);
      expect(wrong).to.have.length(5);
      for (const [i, code] of wrong.entries()) {
        const reply = await enterCode(page, code);
        expect(reply.status(), `wrong code ${i + 1}: ${code}`).to.equal(404);
        expect(await heading(page)).to.equal(en['enterCode.heading']);
        expect(await page.getByRole('alert').textContent()).to.equal(en['codeNotFound.detail']);
        expect(await page.getByLabel('Code', { exact: true }).inputValue()).to.equal(code);
      }

      const locked = await enterCode(page, flow.userCode);
      expect(locked.status()).to.equal(429);
      const retryAfter = Number((await locked.allHeaders())['retry-after']);
      expect(retryAfter).to.be.within(3590, 3600);
      expect(await heading(page)).to.equal(en['tooManyAttempts.title']);
      expect(await page.locator('main').textContent()).to.include(en['tooManyAttempts.detail'].replace('{minutes}', '60'));
      expect(await page.getByRole('button', { name: 'Approve' }).count()).to.equal(0);
      await screenshot(page, 'lockout');

      await expectPending(db, limited, flow);
    });
  });

  it('CSRF: a decision whose form lost its csrf_token is refused with 400, one with an altered token with 403 "This form has expired"; the flow stays pending', async () => {
    const flow = await startFlow(server, db.store);
    const { page } = await signedInPage();

    expect((await enterCode(page, flow.userCode)).status()).to.equal(200);
    // The decision form's own token (the header's sign-out form has one too). page.evaluate runs
    // through DevTools, so the page's CSP (no inline script) does not stop it.
    const removed = await page.evaluate(() => {
      const input = document.querySelector('form[action="/activate/decision"] input[name=csrf_token]');
      input?.remove();
      return input !== null && document.querySelectorAll('form[action="/activate/decision"] input[name=csrf_token]').length === 0;
    });
    expect(removed, 'the csrf_token input was removed').to.equal(true);
    const missing = await navigateBy(page, () => page.getByRole('button', { name: 'Approve', exact: true }).click(), 'POST', '/activate/decision');
    expect(missing.status()).to.equal(400);
    expect(await heading(page)).to.equal(en['http.400.title']);
    expect(await heading(page)).not.to.equal(en['result.approved.heading']);
    await expectPending(db, server, flow);

    expect((await page.goto(`${server.url}/activate`))?.status()).to.equal(200);
    expect((await enterCode(page, flow.userCode)).status()).to.equal(200);
    const altered = await page.evaluate(() => {
      const input = document.querySelector<HTMLInputElement>('form[action="/activate/decision"] input[name=csrf_token]')!;
      const last = input.value.slice(-1);
      input.value = input.value.slice(0, -1) + (last === '0' ? '1' : '0');
      return input.value;
    });
    expect(altered).to.have.length.greaterThan(10);
    const forged = await navigateBy(page, () => page.getByRole('button', { name: 'Approve', exact: true }).click(), 'POST', '/activate/decision');
    expect(forged.status()).to.equal(403);
    expect(await heading(page)).to.equal(en['csrf.title']);
    expect(await page.locator('main').textContent()).to.include(en['csrf.detail']);
    await expectPending(db, server, flow);
  });

  it('Accept-Language: a browser set to de-DE gets the German catalogue (html lang="de", "Gerät verbinden", a German confirm page)', async () => {
    const flow = await startFlow(server, db.store, { client: { name: 'Wohnzimmer-TV' } });
    const { page } = await signedInPage({ locale: 'de-DE', labels: de as typeof en });

    expect(await page.locator('html').getAttribute('lang')).to.equal('de');
    expect(await heading(page)).to.equal('Gerät verbinden');
    expect(await page.title()).to.equal('Gerät verbinden · oauth2-devices');
    expect(await page.getByRole('button', { name: 'Abmelden', exact: true }).count()).to.equal(1);

    const confirm = await enterCode(page, flow.userCode, de as typeof en);
    expect(confirm.status()).to.equal(200);
    expect(confirm.headers()['content-language']).to.equal('de');
    expect(await page.locator('html').getAttribute('lang')).to.equal('de');
    expect(await heading(page)).to.equal('Wohnzimmer-TV möchte sich mit Ihrem Konto verbinden');
    expect(await page.getByRole('button', { name: 'Erlauben', exact: true }).count()).to.equal(1);
    expect(await page.getByRole('button', { name: 'Ablehnen', exact: true }).count()).to.equal(1);
    expect(await page.getByRole('button', { name: 'Approve' }).count()).to.equal(0);
    await screenshot(page, 'confirm-de');
    await expectPending(db, server, flow);
  });

  it('keyboard only: the code field has the focus on arrival, Enter submits the code, Tab reaches Approve and Enter approves', async () => {
    const flow = await startFlow(server, db.store, { client: { name: 'Keyboard Console' } });
    const user = await makeUser(db.store);
    const page = await newPage();

    // Sign in by keyboard too: the username field has autofocus.
    expect((await page.goto(`${server.url}/signin`))?.status()).to.equal(200);
    expect(await autofocusedId(page, 'username')).to.equal('username');
    await page.keyboard.type(user.username);
    await page.keyboard.press('Tab');
    expect(await activeElementId(page)).to.equal('password');
    await page.keyboard.type(TEST_PASSWORD);
    const signedIn = await navigateBy(page, () => page.keyboard.press('Enter'), 'POST', '/signin');
    expect(signedIn.status()).to.equal(303);
    expect(new URL(page.url()).pathname).to.equal('/activate');

    // Arriving on /activate, the code field already has the focus (autofocus): no Tab needed.
    expect(await autofocusedId(page, 'user_code'), 'focused element on /activate').to.equal('user_code');
    await page.keyboard.type(flow.userCode.toLowerCase());
    expect(await page.locator('#user_code').inputValue()).to.equal(flow.userCode.toLowerCase());
    const confirm = await navigateBy(page, () => page.keyboard.press('Enter'), 'POST', '/activate');
    expect(confirm.status()).to.equal(200);
    expect(await heading(page)).to.equal('Keyboard Console wants to connect to your account');

    // Tab through the page: Sign out (header), then Approve, before Deny.
    const focused: string[] = [];
    for (let i = 0; i < 4 && focused.at(-1) !== 'Approve'; i++) {
      await page.keyboard.press('Tab');
      focused.push(await page.evaluate(() => (document.activeElement?.textContent ?? '').trim()));
    }
    expect(focused).to.deep.equal(['Sign out', 'Approve']);
    await expectPending(db, server, flow);

    const result = await navigateBy(page, () => page.keyboard.press('Enter'), 'POST', '/activate/decision');
    expect(result.status()).to.equal(200);
    expect(await heading(page)).to.equal(en['result.approved.heading']);
    const token = await poll(server, flow);
    expect(token.status, token.text).to.equal(200);
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${token.json.access_token}` } });
    expect(me.json.username).to.equal(user.username);
  });
});
