import { expect } from 'chai';
import { sha256 } from '../../src/helpers/secrets';
import { forEachDatabase } from '../support/databases';
import { BrowserSession, type Reply } from '../support/http';
import { makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { enterCode, expectStillPending, heading, press, SESSION_COOKIE, sessionRows, setCookieLine, signedInBrowser, startFlow } from './flow';

forEachDatabase('activation sign-in and sessions', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  /** The sign-in page with the parts that may differ between two attempts blanked out. */
  const blankUsername = (page: Reply, username: string) => page.text.replaceAll(username, 'USERNAME');

  it('a wrong password answers the sign-in page with 401 and sets no session cookie', async () => {
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const reply = await browser.signIn(user.username, `${TEST_PASSWORD}!`);
    expect(reply.status).to.equal(401);
    expect(heading(reply)).to.equal('Sign in');
    expect(reply.text).to.include('<p class="error" role="alert">Wrong username or password.</p>');
    expect(reply.text).to.include(`value="${user.username}"`);
    expect(reply.text).not.to.include(TEST_PASSWORD);
    expect(setCookieLine(browser, SESSION_COOKIE)).to.equal(undefined);
    expect(browser.cookie(SESSION_COOKIE)).to.equal(undefined);
    expect(await sessionRows(db, user.id)).to.have.length(0);
  });

  it('an unknown username gets the same answer as a wrong password', async () => {
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const wrongPassword = await browser.signIn(user.username, 'not the password');
    const unknown = 'nobody-by-this-name';
    const unknownUser = await browser.signIn(unknown, 'not the password');
    expect(unknownUser.status).to.equal(wrongPassword.status);
    expect(unknownUser.status).to.equal(401);
    expect(blankUsername(unknownUser, unknown)).to.equal(blankUsername(wrongPassword, user.username));
    expect(browser.cookie(SESSION_COOKIE)).to.equal(undefined);
  });

  it('a disabled account cannot sign in (403) and gets no session', async () => {
    const user = await makeUser(db.store, { disabled: true });
    const browser = new BrowserSession(server.url);

    // Without the password the answer is the ordinary one: nothing about the account is revealed.
    const guess = await browser.signIn(user.username, 'a guess');
    expect(guess.status).to.equal(401);

    const reply = await browser.signIn(user.username, TEST_PASSWORD);
    expect(reply.status).to.equal(403);
    expect(heading(reply)).to.equal('Account disabled');
    expect(setCookieLine(browser, SESSION_COOKIE)).to.equal(undefined);
    expect(browser.cookie(SESSION_COOKIE)).to.equal(undefined);
    expect(await sessionRows(db, user.id)).to.have.length(0);

    // And so cannot reach the confirm page of a flow.
    const flow = await startFlow(server, db.store);
    const link = await browser.get('/activate', { user_code: flow.userCode });
    expect(link.status).to.equal(303);
    expect(link.headers.get('location')).to.match(/^\/signin\?return_to=/);
    await expectStillPending(db, server, flow);
  });

  it('session fixation: signing in issues a fresh session id and deletes the session the browser had', async () => {
    const first = await makeUser(db.store);
    const second = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const seen: string[] = [];

    expect((await browser.signIn(first.username, TEST_PASSWORD)).status).to.equal(303);
    const id1 = browser.cookie(SESSION_COOKIE)!;
    seen.push(id1);
    expect(await sessionRows(db, first.id)).to.have.length(1);
    expect(await db.knex('sessions').where({ id_hash: sha256(id1) }).first()).to.include({ user_id: first.id });

    expect((await browser.signIn(first.username, TEST_PASSWORD)).status).to.equal(303);
    const id2 = browser.cookie(SESSION_COOKIE)!;
    expect(seen).not.to.include(id2);
    seen.push(id2);
    expect(await db.knex('sessions').where({ id_hash: sha256(id1) }).first()).to.equal(undefined);
    expect(await sessionRows(db, first.id)).to.have.length(1);

    expect((await browser.signIn(second.username, TEST_PASSWORD)).status).to.equal(303);
    const id3 = browser.cookie(SESSION_COOKIE)!;
    expect(seen).not.to.include(id3);
    expect(await db.knex('sessions').where({ id_hash: sha256(id2) }).first()).to.equal(undefined);
    expect(await sessionRows(db, first.id)).to.have.length(0);
    expect(await db.knex('sessions').where({ id_hash: sha256(id3) }).first()).to.include({ user_id: second.id });
  });

  it('the session id is stored only as its SHA-256', async () => {
    const { browser, user } = await signedInBrowser(server, db.store);
    const id = browser.cookie(SESSION_COOKIE)!;
    const rows = await sessionRows(db, user.id);
    expect(rows).to.have.length(1);
    expect(rows[0]!.id_hash).to.equal(sha256(id));
    expect(JSON.stringify(rows)).not.to.include(id);
  });

  it('sign-out deletes the session row, clears the cookie, and the old cookie no longer signs anyone in', async () => {
    const flow = await startFlow(server, db.store);
    const { browser, user } = await signedInBrowser(server, db.store);
    const id = browser.cookie(SESSION_COOKIE)!;
    const sig = browser.cookie(`${SESSION_COOKIE}.sig`)!;
    const page = await browser.get('/activate');
    expect(page.text).to.include('action="/signout"');

    const reply = await browser.post('/signout', { csrf_token: BrowserSession.csrf(page) });
    expect(reply.status).to.equal(303);
    expect(reply.headers.get('location')).to.equal('/activate');
    expect(setCookieLine(browser, SESSION_COOKIE)).to.match(/expires=Thu, 01 Jan 1970/i);
    expect(browser.cookie(SESSION_COOKIE)).to.equal(undefined);
    expect(await sessionRows(db, user.id)).to.have.length(0);

    const replay = await server.call('GET', '/activate', {
      query: { user_code: flow.userCode },
      headers: { cookie: `${SESSION_COOKIE}=${id}; ${SESSION_COOKIE}.sig=${sig}` },
    });
    expect(replay.status).to.equal(303);
    expect(replay.headers.get('location')).to.match(/^\/signin\?return_to=/);
    await expectStillPending(db, server, flow);
  });

  it('CSRF: sign-out with a token from another browser is refused with 403 and the session stays', async () => {
    const { browser, user } = await signedInBrowser(server, db.store);
    const other = new BrowserSession(server.url);
    const otherToken = BrowserSession.csrf(await other.get('/signin'));
    const reply = await browser.post('/signout', { csrf_token: otherToken });
    expect(reply.status).to.equal(403);
    expect(await sessionRows(db, user.id)).to.have.length(1);
    expect(browser.cookie(SESSION_COOKIE)).to.be.a('string');
  });

  it('CSRF (login CSRF): a sign-in posted with a token from another browser is refused with 403 and no session is created', async () => {
    const user = await makeUser(db.store);
    const attacker = new BrowserSession(server.url);
    const token = BrowserSession.csrf(await attacker.get('/signin'));
    const victim = new BrowserSession(server.url);
    await victim.get('/signin'); // the victim has a CSRF cookie of their own
    const reply = await victim.post('/signin', { csrf_token: token, username: user.username, password: TEST_PASSWORD });
    expect(reply.status).to.equal(403);
    expect(victim.cookie(SESSION_COOKIE)).to.equal(undefined);

    const noCookie = new BrowserSession(server.url);
    const bare = await noCookie.post('/signin', { csrf_token: token, username: user.username, password: TEST_PASSWORD });
    expect(bare.status).to.equal(403);
    expect(noCookie.cookie(SESSION_COOKIE)).to.equal(undefined);
    expect(await sessionRows(db, user.id)).to.have.length(0);
  });

  it('the session and CSRF cookies are HttpOnly, SameSite=Lax, path=/, signed, and not Secure on an http issuer', async () => {
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const page = await browser.get('/signin');
    expect(page.status).to.equal(200);
    const csrfLine = setCookieLine(browser, 'o2d_csrf');
    expect(csrfLine).to.be.a('string');

    const reply = await browser.post('/signin', { csrf_token: BrowserSession.csrf(page), username: user.username, password: TEST_PASSWORD });
    expect(reply.status).to.equal(303);
    const sessionLine = setCookieLine(browser, SESSION_COOKIE);
    expect(sessionLine).to.be.a('string');
    expect(setCookieLine(browser, `${SESSION_COOKIE}.sig`)).to.be.a('string');

    for (const [name, line] of [['session', sessionLine!], ['csrf', csrfLine!]] as const) {
      const attributes = line.split(';').slice(1).map((a) => a.trim().toLowerCase());
      expect(attributes, name).to.include('httponly');
      expect(attributes, name).to.include('samesite=lax');
      expect(attributes, name).to.include('path=/');
      expect(attributes, name).not.to.include('secure');
    }
    expect(sessionLine).to.match(/; expires=/i);
  });

  it('the cookies are Secure when the issuer is https (behind a TLS-terminating proxy)', async () => {
    const https = await startServer(db.store, { issuer: 'https://devices.example' });
    try {
      const user = await makeUser(db.store);
      const browser = new BrowserSession(https.url);
      const reply = await browser.signIn(user.username, TEST_PASSWORD);
      expect(reply.status).to.equal(303);
      const attributes = setCookieLine(browser, SESSION_COOKIE)!.split(';').map((a) => a.trim().toLowerCase());
      expect(attributes).to.include('secure');
      expect(attributes).to.include('httponly');
      expect(attributes).to.include('samesite=lax');
    } finally {
      await https.close();
    }
  });

  it('a session ends after sessionLifetime: the person is sent to sign in again', async () => {
    const own = await startServer(db.store, { sessionLifetime: 600 });
    try {
      const { browser } = await signedInBrowser(own, db.store);
      const before = await browser.get('/activate');
      expect(before.text).to.include('action="/signout"');
      own.clock.advance(601);
      const flow = await startFlow(own, db.store);
      const link = await browser.get('/activate', { user_code: flow.userCode });
      expect(link.status).to.equal(303);
      expect(link.headers.get('location')).to.equal(`/signin?return_to=${encodeURIComponent(`/activate?user_code=${flow.userCode}`)}`);
    } finally {
      await own.close();
    }
  });

  it('passwords are stored as salted scrypt hashes, never as the password', async () => {
    const a = await makeUser(db.store);
    const b = await makeUser(db.store);
    const rows = await db.knex('users').whereIn('id', [a.id, b.id]).select('password_hash');
    expect(rows).to.have.length(2);
    for (const { password_hash: hash } of rows) {
      expect(hash).to.match(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]{16,}\$[A-Za-z0-9_-]{32,}$/);
      expect(hash).not.to.include(TEST_PASSWORD);
      expect(hash).not.to.include(Buffer.from(TEST_PASSWORD).toString('base64url'));
    }
    expect(rows[0]!.password_hash).not.to.equal(rows[1]!.password_hash);
  });

  for (const evil of ['//evil.example/x', 'https://evil.example', '/\\evil.example', 'javascript:alert(1)', '/\tevil']) {
    it(`open redirect: return_to=${JSON.stringify(evil)} is ignored and sign-in goes to /activate`, async () => {
      const user = await makeUser(db.store);
      const browser = new BrowserSession(server.url);
      const page = await browser.get('/signin', { return_to: evil });
      expect(page.status).to.equal(200);
      expect(page.text).not.to.include('name="return_to"');
      expect(page.text).not.to.include('evil');

      const reply = await browser.post('/signin', { csrf_token: BrowserSession.csrf(page), username: user.username, password: TEST_PASSWORD, return_to: evil });
      expect(reply.status).to.equal(303);
      expect(reply.headers.get('location')).to.equal('/activate');
    });
  }

  it('return_to to a path on this server is kept through sign-in', async () => {
    const flow = await startFlow(server, db.store);
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const target = `/activate?user_code=${flow.userCode}`;
    const reply = await browser.signIn(user.username, TEST_PASSWORD, target);
    expect(reply.status).to.equal(303);
    expect(reply.headers.get('location')).to.equal(target);
    const confirm = await browser.get(target);
    expect(confirm.status).to.equal(200);
    // Signing in and following the link did not decide anything.
    await expectStillPending(db, server, flow);
    // The page works: approve from it.
    expect((await press(browser, confirm, 'approve')).status).to.equal(200);
  });

  it('the person signed in is shown on the pages, with a sign-out form', async () => {
    const { browser, user } = await signedInBrowser(server, db.store);
    const page = await browser.get('/activate');
    expect(page.text).to.include(`<span class="muted">${user.name}</span>`);
    const flow = await startFlow(server, db.store);
    const confirm = await enterCode(browser, flow.userCode);
    expect(confirm.text).to.include(`<span class="muted">${user.name}</span>`);
  });
});
