/**
 * RFC 8628 §5.1: guessing user codes and passwords is limited per IP address and per account,
 * with a growing wait and a lockout, counted in the database. These tests use the production
 * defaults (5 wrong codes per hour, 10 failed sign-ins per 15 minutes, waits of 1, 2, 4 ... s).
 * Different IP addresses come from X-Forwarded-For behind a trusted proxy.
 */
import { expect } from 'chai';
import { defaults } from '../../src/config/defaults';
import { forEachDatabase } from '../support/databases';
import { BrowserSession, type Reply } from '../support/http';
import { freePort, ServerProcess } from '../support/process';
import { makeUser, startServer, TEST_PASSWORD, TEST_SECRET_KEYS, type RunningServer } from '../support/server';
import { expectStillPending, startFlow } from './flow';

const PRODUCTION_LIMITS = {
  userCodeMaxFailures: defaults.userCodeMaxFailures,
  userCodeLockout: defaults.userCodeLockout,
  signInMaxFailures: defaults.signInMaxFailures,
  signInLockout: defaults.signInLockout,
  attemptBackoff: defaults.attemptBackoff,
  guessCeilingBits: defaults.guessCeilingBits,
};

/** A browser behind a proxy that says it comes from `ip`. */
class ClientAt extends BrowserSession {
  constructor(url: string, readonly ip: string) {
    super(url);
  }
  override send(method: string, path: string, options: Parameters<BrowserSession['send']>[2] = {}): Promise<Reply> {
    return super.send(method, path, { ...options, headers: { 'x-forwarded-for': this.ip, ...(options.headers ?? {}) } });
  }
  async enter(code: string): Promise<Reply> {
    const form = await this.get('/activate');
    return this.post('/activate', { csrf_token: BrowserSession.csrf(form), user_code: code });
  }
}

const WRONG = ['BCDF-GHJK', 'BCDF-GHJL', 'BCDF-GHJM', 'BCDF-GHJN', 'BCDF-GHJP', 'BCDF-GHJQ', 'BCDF-GHJR'];

forEachDatabase('guessing limits (RFC 8628 §5.1)', (db) => {
  let server: RunningServer;
  let ipCounter = 0;
  beforeEach(async () => {
    server = await startServer(db.store, { ...PRODUCTION_LIMITS, trustProxy: true });
  });
  afterEach(async () => server.close());

  const freshIp = () => `198.51.100.${++ipCounter}`;

  async function signedInAt(ip: string) {
    const user = await makeUser(db.store);
    const browser = new ClientAt(server.url, ip);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    return { user, browser };
  }

  it('RFC 8628 §5.1: two wrong codes cost nothing, then each waits longer: 1 s, 2 s (429 with Retry-After)', async () => {
    const { browser } = await signedInAt(freshIp());
    expect((await browser.enter(WRONG[0]!)).status).to.equal(404);
    expect((await browser.enter(WRONG[1]!)).status).to.equal(404);
    expect((await browser.enter(WRONG[2]!)).status).to.equal(404); // 3rd failure: now wait 1 s
    const early = await browser.enter(WRONG[3]!);
    expect(early.status).to.equal(429);
    expect(early.headers.get('retry-after')).to.equal('1');
    expect(early.text).to.include('Too many attempts');
    server.clock.advance(1);
    expect((await browser.enter(WRONG[3]!)).status).to.equal(404); // 4th failure: now wait 2 s
    server.clock.advance(1);
    expect((await browser.enter(WRONG[4]!)).headers.get('retry-after')).to.equal('1');
  });

  it('RFC 8628 §5.1: the 5th wrong code locks the account out for an hour, even for the right code', async () => {
    const flow = await startFlow(server, db.store);
    const { browser } = await signedInAt(freshIp());
    for (const code of WRONG.slice(0, 5)) {
      server.clock.advance(10); // past every back-off
      expect((await browser.enter(code)).status).to.equal(404);
    }
    server.clock.advance(10);
    const locked = await browser.enter(flow.userCode);
    expect(locked.status).to.equal(429);
    expect(Number(locked.headers.get('retry-after'))).to.be.within(3580, 3600);
    expect(locked.text).to.include('try again in 60 minutes');
    // The link with the code in it is refused as well, and nothing was approved.
    expect((await browser.get('/activate', { user_code: flow.userCode })).status).to.equal(429);
    await expectStillPending(db, server, flow);
    // An hour later the same person may try again (with a new code: the old one has expired).
    server.clock.advance(3600);
    const next = await startFlow(server, db.store);
    expect((await browser.enter(next.userCode)).status).to.equal(200);
  });

  it('the lockout follows the account to another IP address, and the address to another account', async () => {
    const ip = freshIp();
    const { user, browser } = await signedInAt(ip);
    for (const code of WRONG.slice(0, 5)) {
      server.clock.advance(10);
      await browser.enter(code);
    }
    server.clock.advance(10);
    const sameUserElsewhere = new ClientAt(server.url, freshIp());
    await sameUserElsewhere.signIn(user.username, TEST_PASSWORD);
    expect((await sameUserElsewhere.enter(WRONG[5]!)).status, 'same account, new address').to.equal(429);
    const otherUserSameIp = await signedInAt(ip);
    expect((await otherUserSameIp.browser.enter(WRONG[5]!)).status, 'new account, same address').to.equal(429);
    const stranger = await signedInAt(freshIp());
    expect((await stranger.browser.enter(WRONG[5]!)).status, 'new account, new address').to.equal(404);
  });

  it('expired and used codes count as failures too (they reveal that a code existed)', async () => {
    const { browser } = await signedInAt(freshIp());
    const expired = await startFlow(server, db.store);
    server.clock.advance(901);
    for (let i = 0; i < 5; i++) {
      server.clock.advance(10);
      expect((await browser.enter(expired.userCode)).status).to.equal(410);
    }
    server.clock.advance(10);
    expect((await browser.enter(WRONG[0]!)).status).to.equal(429);
  });

  it('failed sign-ins are limited per username: the 10th failure locks it for 15 minutes', async () => {
    const user = await makeUser(db.store);
    for (let i = 0; i < 10; i++) {
      server.clock.advance(600); // past every back-off, within the 15-minute window? no: see below
      const reply = await new ClientAt(server.url, freshIp()).signIn(user.username, 'wrong');
      expect(reply.status, `attempt ${i + 1}`).to.equal(401);
    }
    // Ten failures spread over 100 minutes never fill one 15-minute window: not locked.
    expect((await new ClientAt(server.url, freshIp()).signIn(user.username, TEST_PASSWORD)).status).to.equal(303);

    // Ten failures within the window, each waiting out its back-off (Retry-After), lock it.
    const target = await makeUser(db.store);
    const waits: number[] = [];
    for (let failures = 0; failures < 10; ) {
      const reply = await new ClientAt(server.url, freshIp()).signIn(target.username, 'wrong');
      if (reply.status === 429) {
        const wait = Number(reply.headers.get('retry-after'));
        waits.push(wait);
        server.clock.advance(wait);
        continue;
      }
      expect(reply.status).to.equal(401);
      failures++;
    }
    expect(waits).to.deep.equal([1, 2, 4, 8, 16, 32, 64]);
    const locked = await new ClientAt(server.url, freshIp()).signIn(target.username, TEST_PASSWORD);
    expect(locked.status).to.equal(429);
    expect(Number(locked.headers.get('retry-after'))).to.be.within(890, 900);
    expect(locked.headers.get('set-cookie') ?? '').not.to.include('o2d_session=');
    server.clock.advance(900);
    expect((await new ClientAt(server.url, freshIp()).signIn(target.username, TEST_PASSWORD)).status).to.equal(303);
  });

  it('a successful sign-in clears the failures of that username, not of the address', async () => {
    const ip = freshIp();
    const user = await makeUser(db.store);
    const browser = new ClientAt(server.url, ip);
    for (let i = 0; i < 9; i++) {
      server.clock.advance(100);
      await browser.signIn(user.username, 'wrong');
    }
    server.clock.advance(100);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    expect(await db.knex('attempt_counters').where({ counter_key: `signin:user:${user.username.toLowerCase()}` })).to.have.length(0);
    expect(await db.knex('attempt_counters').where({ counter_key: `signin:ip:${ip}` })).to.have.length(1);
  });
});

forEachDatabase('guessing limits across server processes', (db) => {
  let server: RunningServer;
  let other: ServerProcess;
  let otherUrl: string;

  before(async function () {
    this.timeout(60_000);
    server = await startServer(db.store, { ...PRODUCTION_LIMITS, attemptBackoff: 0 });
    server.clock.ms = Date.now(); // the other process runs on the real clock
    const port = await freePort();
    otherUrl = `http://127.0.0.1:${port}`;
    other = new ServerProcess(process.cwd(), {
      ...process.env,
      DATABASE_URL: db.url,
      OAUTH2_SECRET_KEYS: TEST_SECRET_KEYS.join(','),
      PORT: String(port),
      HOST: '127.0.0.1',
      OAUTH2_ISSUER: otherUrl,
      OAUTH2_ATTEMPT_BACKOFF: '0',
    });
    await other.waitForOutput(/activate:\s+\S+\/activate/);
  });
  after(async () => {
    other?.forceKill();
    await server?.close();
  });

  it('RFC 8628 §5.1: wrong codes entered through two processes add up to one lockout', async () => {
    const flow = await startFlow(server, db.store);
    const user = await makeUser(db.store);
    const here = new BrowserSession(server.url);
    const there = new BrowserSession(otherUrl);
    expect((await here.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    expect((await there.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    const enter = async (browser: BrowserSession, code: string) =>
      browser.post('/activate', { csrf_token: BrowserSession.csrf(await browser.get('/activate')), user_code: code });

    for (const code of WRONG.slice(0, 3)) expect((await enter(there, code)).status).to.equal(404);
    server.clock.ms = Date.now();
    for (const code of WRONG.slice(3, 5)) expect((await enter(here, code)).status).to.equal(404);
    // Five failures in all: both processes now refuse this person, even the right code.
    expect((await enter(there, flow.userCode)).status).to.equal(429);
    server.clock.ms = Date.now();
    expect((await enter(here, flow.userCode)).status).to.equal(429);
    await expectStillPending(db, server, flow);
  });
});
