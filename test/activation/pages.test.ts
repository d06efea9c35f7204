import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { BrowserSession, type Reply } from '../support/http';
import { makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { enterCode, expectStillPending, flowRow, heading, hiddenField, poll, press, signedInBrowser, startFlow } from './flow';

/** A code in the right alphabet and shape that no flow was given (checked against the real one). */
function madeUpCode(real: string): string {
  return real === 'BCDF-GHJK' ? 'LMNP-QRST' : 'BCDF-GHJK';
}

forEachDatabase('activation pages (RFC 8628 §3.3)', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('RFC 8628 §6.1: a code typed in lower case, without the dash or with spaces, finds the flow; the confirm page shows the client, each scope and XXXX-XXXX', async () => {
    const flow = await startFlow(server, db.store, { scope: 'profile email', client: { name: 'Kitchen Speaker' } });
    const { browser } = await signedInBrowser(server, db.store);
    const [first, second] = flow.userCode.split('-') as [string, string];

    for (const typed of [`${first}${second}`.toLowerCase(), ` ${first.toLowerCase()} ${second.toLowerCase()} `]) {
      const confirm = await enterCode(browser, typed);
      expect(confirm.status, `typed ${JSON.stringify(typed)}`).to.equal(200);
      expect(heading(confirm)).to.equal('Kitchen Speaker wants to connect to your account');
      expect(confirm.text).to.include(`<p class="code-display" aria-label="Code ${flow.userCode.split('').join(' ')}">${flow.userCode}</p>`);
      expect(confirm.text).to.include('<li><strong>See your name and username</strong> <span class="muted">(profile)</span></li>');
      expect(confirm.text).to.include('<li><strong>See your email address</strong> <span class="muted">(email)</span></li>');
      expect(hiddenField(confirm, 'user_code')).to.equal(flow.userCode);
      expect(confirm.text).to.include('action="/activate/decision"');
    }
    await expectStillPending(db, server, flow);
  });

  it('RFC 8628 §3.3, §3.5: approving tells the person to return to the device, and the device then gets a token that belongs to the approving person', async () => {
    const flow = await startFlow(server, db.store, { scope: 'profile email', client: { name: 'Hallway Console' } });
    // Someone else is signed in elsewhere: the token must not be theirs.
    await signedInBrowser(server, db.store);
    const { browser, user } = await signedInBrowser(server, db.store);

    const confirm = await enterCode(browser, flow.userCode.replace('-', '').toLowerCase());
    const result = await press(browser, confirm, 'approve');
    expect(result.status).to.equal(200);
    expect(heading(result)).to.equal('Device connected');
    expect(result.text).to.include('Hallway Console can now use your account. Return to your device: it will continue by itself.');

    const row = await flowRow(db, flow);
    expect(row.status).to.equal('approved');
    expect(row.user_id).to.equal(user.id);

    const tokenReply = await poll(server, flow);
    expect(tokenReply.status, tokenReply.text).to.equal(200);
    expect(tokenReply.json.token_type).to.equal('Bearer');
    expect(tokenReply.json.scope).to.equal('profile email');

    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${tokenReply.json.access_token}` } });
    expect(me.status).to.equal(200);
    expect(me.json.username).to.equal(user.username);
    expect(me.json.sub).to.equal(user.id);
    expect(me.json.client_id).to.equal(flow.client.id);
    expect(me.json.email).to.equal(user.email);
  });

  it('RFC 8628 §3.5: denying tells the person the device got no access, and the device poll gets access_denied', async () => {
    const flow = await startFlow(server, db.store, { client: { name: 'Garage Display' } });
    const { browser, user } = await signedInBrowser(server, db.store);

    const result = await press(browser, await enterCode(browser, flow.userCode), 'deny');
    expect(result.status).to.equal(200);
    expect(heading(result)).to.equal('Request denied');
    expect(result.text).to.include('Garage Display was not given access. You can return to your device.');

    const row = await flowRow(db, flow);
    expect(row.status).to.equal('denied');
    expect(row.user_id).to.equal(user.id);

    const reply = await poll(server, flow);
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('access_denied');
    expect(await db.knex('access_tokens').where({ client_id: flow.client.id })).to.have.length(0);
  });

  it('RFC 8628 §3.3.1: verification_uri_complete sends an anonymous person to sign in, keeps the code, and only pre-fills it: a GET never approves', async () => {
    const flow = await startFlow(server, db.store);
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const link = new URL(flow.verificationUriComplete);
    expect(link.origin).to.equal(server.url);

    const first = await browser.get(`${link.pathname}${link.search}`);
    expect(first.status).to.equal(303);
    const activatePath = `/activate?user_code=${flow.userCode}`;
    expect(first.headers.get('location')).to.equal(`/signin?return_to=${encodeURIComponent(activatePath)}`);

    const signInPage = await browser.get(first.headers.get('location')!);
    expect(signInPage.status).to.equal(200);
    expect(hiddenField(signInPage, 'return_to')).to.equal(activatePath);

    const signedIn = await browser.post('/signin', {
      csrf_token: BrowserSession.csrf(signInPage),
      username: user.username,
      password: TEST_PASSWORD,
      return_to: hiddenField(signInPage, 'return_to'),
    });
    expect(signedIn.status).to.equal(303);
    expect(signedIn.headers.get('location')).to.equal(activatePath);

    for (let i = 0; i < 2; i++) {
      const confirm = await browser.get(signedIn.headers.get('location')!);
      expect(confirm.status).to.equal(200);
      expect(heading(confirm)).to.equal('Living Room TV wants to connect to your account');
      expect(hiddenField(confirm, 'user_code')).to.equal(flow.userCode);
    }
    await expectStillPending(db, server, flow);
  });

  it('RFC 8628 §5.1: an anonymous code submission is sent to sign in without revealing whether the code exists', async () => {
    const flow = await startFlow(server, db.store);
    const fake = madeUpCode(flow.userCode);
    const browser = new BrowserSession(server.url);
    const form = await browser.get('/activate');
    expect(form.status).to.equal(200);
    const csrf = BrowserSession.csrf(form);

    const real = await browser.post('/activate', { csrf_token: csrf, user_code: flow.userCode });
    const madeUp = await browser.post('/activate', { csrf_token: csrf, user_code: fake });
    expect(real.status).to.equal(303);
    expect(madeUp.status).to.equal(303);
    expect(real.headers.get('location')).to.equal(`/signin?return_to=${encodeURIComponent(`/activate?user_code=${flow.userCode}`)}`);
    const blank = (reply: Reply, code: string) => ({
      location: reply.headers.get('location')!.replaceAll(encodeURIComponent(code), 'CODE'),
      body: reply.text.replaceAll(encodeURIComponent(code), 'CODE').replaceAll(code, 'CODE'),
      headers: [...reply.headers.keys()].filter((name) => name !== 'date').sort(),
    });
    expect(blank(madeUp, fake)).to.deep.equal(blank(real, flow.userCode));

    // The link form answers alike too.
    const realLink = await browser.get('/activate', { user_code: flow.userCode });
    const fakeLink = await browser.get('/activate', { user_code: fake });
    expect(realLink.status).to.equal(303);
    expect(blank(fakeLink, fake)).to.deep.equal(blank(realLink, flow.userCode));
    await expectStillPending(db, server, flow);
  });

  it('RFC 8628 §3.3: an unknown code (or text that cannot be a code) answers the enter-code page with 404 and the typed value kept', async () => {
    const flow = await startFlow(server, db.store);
    const { browser } = await signedInBrowser(server, db.store);
    for (const typed of [madeUpCode(flow.userCode), 'hello']) {
      const page = await enterCode(browser, typed);
      expect(page.status, typed).to.equal(404);
      expect(heading(page)).to.equal('Connect a device');
      expect(page.text).to.include('<p class="error" role="alert" id="code-error">That code is not valid or has expired.');
      expect(page.text).to.include(`value="${typed}"`);
      expect(page.text).to.include('aria-invalid="true"');
      expect(page.text).not.to.include('action="/activate/decision"');
    }
    await expectStillPending(db, server, flow);
  });

  it('RFC 8628 §3.5: a code that expired while the confirm page was open cannot be approved (410), and the device gets expired_token', async () => {
    const own = await startServer(db.store); // moves its own clock
    try {
      const flow = await startFlow(own, db.store);
      const { browser } = await signedInBrowser(own, db.store);
      own.clock.advance(899);
      const confirm = await enterCode(browser, flow.userCode);
      expect(confirm.status, 'one second before expiry the code still works').to.equal(200);
      own.clock.advance(2);

      const late = await press(browser, confirm, 'approve');
      expect(late.status).to.equal(410);
      expect(heading(late)).to.equal('Code expired');
      expect(late.text).to.include('This code has expired. Start again on your device to get a new one.');

      const row = await flowRow(db, flow);
      expect(row.status).to.equal('pending');
      expect(row.user_id).to.equal(null);
      const reply = await poll(own, flow);
      expect(reply.status).to.equal(400);
      expect(reply.json.error).to.equal('expired_token');
    } finally {
      await own.close();
    }
  });

  it('RFC 8628 §3.3: after sign-in, a code link says plainly whether the code is unknown (404), used (409) or expired (410)', async () => {
    const own = await startServer(db.store); // moves its own clock
    try {
      const { browser } = await signedInBrowser(own, db.store);
      const used = await startFlow(own, db.store);
      expect((await press(browser, await enterCode(browser, used.userCode), 'approve')).status).to.equal(200);
      const expired = await startFlow(own, db.store);
      const unknown = await browser.get('/activate', { user_code: madeUpCode(used.userCode) });
      expect(unknown.status).to.equal(404);
      expect(unknown.text).to.include('That code is not valid or has expired.');
      const usedPage = await browser.get('/activate', { user_code: used.userCode });
      expect(usedPage.status).to.equal(409);
      expect(heading(usedPage)).to.equal('Code already used');
      own.clock.advance(900);
      const expiredPage = await browser.get('/activate', { user_code: expired.userCode });
      expect(expiredPage.status).to.equal(410);
      expect(heading(expiredPage)).to.equal('Code expired');
      const expiredPost = await enterCode(browser, expired.userCode);
      expect(expiredPost.status).to.equal(410);
    } finally {
      await own.close();
    }
  });

  it('a code already approved cannot be decided again (409); the first decision stands', async () => {
    const flow = await startFlow(server, db.store);
    const { browser, user } = await signedInBrowser(server, db.store);
    // The same confirm page open in two tabs.
    const tab1 = await enterCode(browser, flow.userCode);
    const tab2 = await enterCode(browser, flow.userCode);
    expect((await press(browser, tab1, 'approve')).status).to.equal(200);

    const again = await press(browser, tab2, 'deny');
    expect(again.status).to.equal(409);
    expect(heading(again)).to.equal('Code already used');

    // Another person trying the same code meets the same wall.
    const other = await signedInBrowser(server, db.store);
    const otherTry = await other.browser.post('/activate/decision', {
      csrf_token: BrowserSession.csrf(await other.browser.get('/activate')),
      user_code: flow.userCode,
      decision: 'approve',
    });
    expect(otherTry.status).to.equal(409);

    const row = await flowRow(db, flow);
    expect(row.status).to.equal('approved');
    expect(row.user_id).to.equal(user.id);
    const tokenReply = await poll(server, flow);
    expect(tokenReply.status).to.equal(200);
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${tokenReply.json.access_token}` } });
    expect(me.json.username).to.equal(user.username);
  });

  it('CSRF: a decision posted without its csrf_token is refused (400 naming csrf_token) and nothing changes', async () => {
    const flow = await startFlow(server, db.store);
    const { browser } = await signedInBrowser(server, db.store);
    const confirm = await enterCode(browser, flow.userCode);
    expect(confirm.status).to.equal(200);

    const reply = await browser.post('/activate/decision', { user_code: flow.userCode, decision: 'approve' });
    expect(reply.status).to.equal(400);
    expect(reply.text).to.include('csrf_token is required');
    // An empty value counts as omitted (RFC 6749 §3.2), not as a token.
    const empty = await browser.post('/activate/decision', { csrf_token: '', user_code: flow.userCode, decision: 'approve' });
    expect(empty.status).to.equal(400);
    await expectStillPending(db, server, flow);
  });

  it('CSRF: a decision or a code submitted with a token from another browser is refused with 403 and nothing changes', async () => {
    const flow = await startFlow(server, db.store);
    const { browser } = await signedInBrowser(server, db.store);
    const confirm = await enterCode(browser, flow.userCode);
    expect(confirm.status).to.equal(200);

    // The attacker's own browser has a valid token, for the attacker's cookie only.
    const attacker = new BrowserSession(server.url);
    const attackerToken = BrowserSession.csrf(await attacker.get('/activate'));
    expect(attackerToken).not.to.equal(BrowserSession.csrf(confirm));

    const decision = await browser.post('/activate/decision', { csrf_token: attackerToken, user_code: flow.userCode, decision: 'approve' });
    expect(decision.status).to.equal(403);
    expect(heading(decision)).to.equal('This form has expired');

    const forged = await browser.post('/activate/decision', { csrf_token: 'a'.repeat(64), user_code: flow.userCode, decision: 'approve' });
    expect(forged.status).to.equal(403);

    const submit = await browser.post('/activate', { csrf_token: attackerToken, user_code: flow.userCode });
    expect(submit.status).to.equal(403);
    expect(submit.text).not.to.include('Living Room TV');
    await expectStillPending(db, server, flow);
  });

  it('a decision from someone not signed in is refused with 403 and nothing changes', async () => {
    const flow = await startFlow(server, db.store);
    const browser = new BrowserSession(server.url);
    const csrf = BrowserSession.csrf(await browser.get('/activate'));
    const reply = await browser.post('/activate/decision', { csrf_token: csrf, user_code: flow.userCode, decision: 'approve' });
    expect(reply.status).to.equal(403);
    expect(heading(reply)).to.equal('Please sign in again');
    await expectStillPending(db, server, flow);
  });

  it('a decision other than approve or deny is refused with 400 and nothing changes', async () => {
    const flow = await startFlow(server, db.store);
    const { browser } = await signedInBrowser(server, db.store);
    const confirm = await enterCode(browser, flow.userCode);
    const reply = await browser.post('/activate/decision', { csrf_token: BrowserSession.csrf(confirm), user_code: flow.userCode, decision: 'APPROVE' });
    expect(reply.status).to.equal(400);
    expect(reply.text).to.include('decision must be one of: approve, deny');
    await expectStillPending(db, server, flow);
  });

  it('RFC 9110 §9.2.1: GET /activate/decision is not a way to decide (405, Allow: POST)', async () => {
    const flow = await startFlow(server, db.store);
    const { browser } = await signedInBrowser(server, db.store);
    const reply = await browser.get('/activate/decision', { user_code: flow.userCode, decision: 'approve' });
    expect(reply.status).to.equal(405);
    expect(reply.headers.get('allow')).to.equal('POST');
    await expectStillPending(db, server, flow);
  });

  it('a person whose account was disabled after signing in can no longer approve (403) and is sent to sign in again', async () => {
    const flow = await startFlow(server, db.store);
    const { browser, user } = await signedInBrowser(server, db.store);
    const confirm = await enterCode(browser, flow.userCode);
    expect(confirm.status).to.equal(200);

    await db.knex('users').where({ id: user.id }).update({ disabled: true });
    const reply = await press(browser, confirm, 'approve');
    expect(reply.status).to.equal(403);
    expect(heading(reply)).to.equal('Please sign in again');

    const link = await browser.get('/activate', { user_code: flow.userCode });
    expect(link.status).to.equal(303);
    expect(link.headers.get('location')).to.match(/^\/signin\?return_to=/);
    await expectStillPending(db, server, flow);
  });

  it('HTML escaping: a client name, a person\'s name and a typed code that contain markup are shown as text', async () => {
    const flow = await startFlow(server, db.store, { client: { name: '<script>alert(1)</script>' } });
    const { browser } = await signedInBrowser(server, db.store, { name: '<img src=x onerror=alert(2)>' });

    const confirm = await enterCode(browser, flow.userCode);
    expect(confirm.status).to.equal(200);
    expect(heading(confirm)).to.equal('&lt;script&gt;alert(1)&lt;/script&gt; wants to connect to your account');
    expect(confirm.text).to.include('&lt;img src=x onerror=alert(2)&gt;');
    expect(confirm.text).not.to.include('<script');
    expect(confirm.text).not.to.include('<img');

    const typed = '"><script>alert(3)</script>';
    const notFound = await enterCode(browser, typed);
    expect(notFound.status).to.equal(404);
    expect(notFound.text).to.include('value="&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"');
    expect(notFound.text).not.to.include('<script');

    const result = await press(browser, confirm, 'approve');
    expect(result.status).to.equal(200);
    expect(result.text).to.include('&lt;script&gt;alert(1)&lt;/script&gt; can now use your account.');
    expect(result.text).not.to.include('<script');
  });

  it('every page sends X-Frame-Options DENY, a CSP with frame-ancestors \'none\' and no unsafe-inline, Referrer-Policy no-referrer and Cache-Control no-store', async () => {
    const flow = await startFlow(server, db.store);
    const used = await startFlow(server, db.store);
    const pages: Record<string, Reply> = {};
    const anonymous = new BrowserSession(server.url);
    pages['enter code (anonymous)'] = await anonymous.get('/activate');
    pages['sign in'] = await anonymous.get('/signin');
    pages['wrong password'] = await anonymous.signIn('nobody-here', 'wrong');
    pages['decision while signed out'] = await anonymous.post('/activate/decision', {
      csrf_token: BrowserSession.csrf(pages['enter code (anonymous)']!),
      user_code: flow.userCode,
      decision: 'approve',
    });
    const { browser } = await signedInBrowser(server, db.store);
    pages['enter code (signed in)'] = await browser.get('/activate');
    pages['confirm'] = await enterCode(browser, flow.userCode);
    pages['unknown code'] = await enterCode(browser, madeUpCode(flow.userCode));
    pages['bad csrf'] = await browser.post('/activate', { csrf_token: 'nope', user_code: flow.userCode });
    pages['invalid form'] = await browser.post('/activate/decision', { csrf_token: 'x', user_code: flow.userCode, decision: 'maybe' });
    pages['result'] = await press(browser, pages['confirm']!, 'deny');
    const usedConfirm = await enterCode(browser, used.userCode);
    await press(browser, usedConfirm, 'approve');
    pages['already used'] = await press(browser, usedConfirm, 'approve');

    const expectedStatus: Record<string, number> = {
      'enter code (anonymous)': 200,
      'sign in': 200,
      'wrong password': 401,
      'decision while signed out': 403,
      'enter code (signed in)': 200,
      confirm: 200,
      'unknown code': 404,
      'bad csrf': 403,
      'invalid form': 400,
      result: 200,
      'already used': 409,
    };
    for (const [name, page] of Object.entries(pages)) {
      expect(page.status, name).to.equal(expectedStatus[name]);
      expect(page.headers.get('content-type'), name).to.equal('text/html; charset=utf-8');
      expect(page.headers.get('x-frame-options'), name).to.equal('DENY');
      expect(page.headers.get('referrer-policy'), name).to.equal('no-referrer');
      expect(page.headers.get('cache-control'), name).to.equal('no-store');
      expect(page.headers.get('x-content-type-options'), name).to.equal('nosniff');
      const csp = page.headers.get('content-security-policy') ?? '';
      const directives = csp.split(';').map((d) => d.trim());
      expect(directives, name).to.include("frame-ancestors 'none'");
      expect(directives, name).to.include("default-src 'none'");
      expect(csp, name).not.to.include('unsafe-inline');
      expect(csp, name).not.to.include('unsafe-eval');
      expect(page.text, name).not.to.match(/<script/i);
      // The one inline stylesheet is allowed by its hash, so the page is styled without unsafe-inline.
      const css = /<style>([\s\S]*?)<\/style>/.exec(page.text)?.[1];
      expect(css, name).to.be.a('string');
      const hash = createHash('sha256').update(css!).digest('base64');
      expect(directives, name).to.include(`style-src 'sha256-${hash}'`);
    }
  });
});
