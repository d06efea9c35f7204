/**
 * Robustness: many processes. Three real server processes (src/main.ts as child processes, each
 * on its own port with its own issuer) share one fresh MariaDB database, as a deployment behind
 * a load balancer would. Every rule that must hold for "the server" must hold for the cluster:
 * a flow may move between processes, a code yields one token however the polls are spread,
 * slow_down and the guessing limits are counted in the database, and a refresh token rotated
 * by one process is a reused token for every other. Real processes, real MariaDB, real HTTP.
 *
 * Needs MYSQL_URL (SQLite has one writer per file; the multi-process deployment is MySQL's).
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerClient, registerUser } from '../../src/accounts';
import { deviceCodeKey, tokenKey } from '../../src/helpers/secrets';
import type { ClientRecord, UserRecord } from '../../src/storage/store';
import { BrowserSession, request, type Reply, type RequestOptions } from '../support/http';
import { addFigure } from '../support/robustness';
import { DEVICE_GRANT, TEST_PASSWORD, uniqueName } from '../support/server';
import { Cluster, within, type Node } from './cluster';

const POLL_INTERVAL = 1;
const SLOW_DOWN_STEP = 5;
const REQUEST_MS = 15_000;
const RACE_RUNS = 10;
const RACE_POLLS = 50;
const WRONG = ['BCDF-GHJK', 'BCDF-GHJL', 'BCDF-GHJM', 'BCDF-GHJN', 'BCDF-GHJP', 'BCDF-GHJQ'];

/** One request to one process, bounded. */
function call(node: Node, method: string, path: string, options?: RequestOptions): Promise<Reply> {
  return within(REQUEST_MS, `${method} ${path} at ${node.name}`, request(node.url, method, path, options));
}

/**
 * A browser talking to one process. The processes trust X-Forwarded-For, so each browser can
 * say where it comes from: the guessing limits count per address as well as per account, and
 * distinct addresses keep one test's failures from locking out the next test's browser.
 */
class Browser extends BrowserSession {
  constructor(readonly node: Node, readonly ip: string) {
    super(node.url);
  }
  override send(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    return within(REQUEST_MS, `browser ${method} ${path} at ${this.node.name}`, super.send(method, path, { ...options, headers: { 'x-forwarded-for': this.ip, ...(options.headers ?? {}) } }));
  }
  /** Types a code on the enter-code page; the page that answers. */
  async enter(userCode: string): Promise<Reply> {
    const form = await this.get('/activate');
    expect(form.status, form.text).to.equal(200);
    return this.post('/activate', { csrf_token: BrowserSession.csrf(form), user_code: userCode });
  }
}

(process.env.MYSQL_URL ? describe : describe.skip)('robustness: many server processes on one MariaDB database', function () {
  const cluster = new Cluster();
  let ipCounter = 0;
  const freshIp = () => `203.0.113.${++ipCounter}`;

  before(async function () {
    this.timeout(90_000);
    await cluster.start(3, {
      OAUTH2_POLL_INTERVAL: String(POLL_INTERVAL),
      OAUTH2_ATTEMPT_BACKOFF: '0',
      OAUTH2_TRUST_PROXY: 'true',
    });
  });
  after(async function () {
    this.timeout(60_000);
    await cluster.stop();
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.error(cluster.output());
  });

  const A = () => cluster.node(0);
  const B = () => cluster.node(1);
  const store = () => cluster.db.store;
  const knex = () => cluster.db.knex;

  async function newClient(refresh = false): Promise<ClientRecord> {
    const { client } = await registerClient(store(), {
      id: uniqueName('tv'),
      name: 'Living Room TV',
      type: 'public',
      allowedScopes: ['profile', 'email'],
      defaultScopes: ['profile'],
      grantTypes: refresh ? [DEVICE_GRANT, 'refresh_token'] : [DEVICE_GRANT],
    });
    return client;
  }

  async function newUser(): Promise<UserRecord> {
    const username = uniqueName('person');
    return registerUser(store(), { username, password: TEST_PASSWORD, name: `Person ${username}`, email: `${username}@example.test` });
  }

  async function signedIn(node: Node, user: UserRecord): Promise<Browser> {
    const browser = new Browser(node, freshIp());
    const reply = await browser.signIn(user.username, TEST_PASSWORD);
    expect(reply.status, `sign-in at ${node.name}: ${reply.text}`).to.equal(303);
    return browser;
  }

  interface Started {
    client: ClientRecord;
    deviceCode: string;
    userCode: string;
  }

  /** RFC 8628 §3.1 at `node`. */
  async function startFlow(node: Node, client: ClientRecord): Promise<Started> {
    const reply = await call(node, 'POST', '/oauth/device_authorization', { form: { client_id: client.id, scope: 'profile' } });
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.json.interval).to.equal(POLL_INTERVAL);
    expect(reply.json.verification_uri).to.equal(`${node.url}/activate`);
    return { client, deviceCode: reply.json.device_code, userCode: reply.json.user_code };
  }

  /** RFC 8628 §3.4 at `node`, without waiting. */
  function poll(node: Node, flow: Started): Promise<Reply> {
    return call(node, 'POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: flow.client.id, device_code: flow.deviceCode } });
  }

  async function approve(browser: Browser, flow: Started): Promise<void> {
    const confirm = await browser.enter(flow.userCode);
    expect(confirm.status, `confirm page at ${browser.node.name}: ${confirm.text}`).to.equal(200);
    const done = await browser.post('/activate/decision', { csrf_token: BrowserSession.csrf(confirm), user_code: flow.userCode, decision: 'approve' });
    expect(done.status, `decision at ${browser.node.name}: ${done.text}`).to.equal(200);
  }

  async function row(flow: Started): Promise<Record<string, any>> {
    const found = await knex()('device_authorizations').where({ device_code_hash: deviceCodeKey(flow.deviceCode) }).first();
    expect(found, 'the device authorization row').to.exist;
    return found;
  }

  const me = (node: Node, accessToken: string) => call(node, 'GET', '/api/me', { headers: { authorization: `Bearer ${accessToken}` } });

  it('a code issued by one process is approved through the pages of another and exchanged at the first', async () => {
    const client = await newClient();
    const user = await newUser();
    const flow = await startFlow(A(), client);

    const pending = await poll(A(), flow);
    expect(pending.status, pending.text).to.equal(400);
    expect(pending.json.error).to.equal('authorization_pending');

    const browser = await signedIn(B(), user);
    await approve(browser, flow);
    expect((await row(flow)).status).to.equal('approved');

    await sleep(POLL_INTERVAL * 1000 + 200);
    const token = await poll(A(), flow);
    expect(token.status, token.text).to.equal(200);
    expect(token.json.token_type).to.equal('Bearer');
    expect(token.json.scope).to.equal('profile');

    // The token speaks for the person who approved at B, at every process.
    for (const node of cluster.nodes) {
      const who = await me(node, token.json.access_token);
      expect(who.status, `/api/me at ${node.name}`).to.equal(200);
      expect(who.json).to.deep.include({ sub: user.id, username: user.username, client_id: client.id });
    }
    const stored = await row(flow);
    expect(stored.status).to.equal('consumed');
    expect(stored.user_id).to.equal(user.id);
  });

  it(`one approved code yields exactly one token when ${RACE_POLLS} polls race across the processes`, async function () {
    this.timeout(180_000);
    const user = await newUser();
    const browsers = await Promise.all(cluster.nodes.map((node) => signedIn(node, user)));
    const problems: string[] = [];
    let runs = 0;
    let singleWinners = 0;

    for (let run = 0; run < RACE_RUNS; run++) {
      const flow = await startFlow(cluster.node(run), await newClient());
      // The device has polled once already (at another process), so the race starts from a
      // stored last poll, and every racer comes after the interval has passed.
      const pending = await poll(cluster.node(run + 2), flow);
      expect(pending.json?.error, pending.text).to.equal('authorization_pending');
      await approve(browsers[(run + 1) % browsers.length]!, flow);
      await sleep(POLL_INTERVAL * 1000 + 200);

      const replies = await Promise.all(Array.from({ length: RACE_POLLS }, (_, i) => poll(cluster.node(run + i), flow)));

      const winners = replies.filter((r) => r.status === 200);
      const others = replies.filter((r) => r.status !== 200);
      const unexpected = others.filter((r) => r.status !== 400 || !['slow_down', 'invalid_grant'].includes(r.json?.error));
      const stored = await row(flow);
      const tokens = await knex()('access_tokens').where({ device_authorization_id: stored.id });
      runs++;
      const single = winners.length === 1 && tokens.length === 1 && unexpected.length === 0 && stored.status === 'consumed';
      if (single) singleWinners++;
      else {
        problems.push(
          `run ${run}: ${winners.length} x 200, ${tokens.length} access_tokens rows, status ${stored.status}, unexpected: ` +
            JSON.stringify(unexpected.map((r) => `${r.status} ${r.text}`)),
        );
      }
      if (winners.length === 1 && tokens.length === 1) {
        // The row is the token that was handed out, to the person who approved.
        expect(tokens[0].token_hash).to.equal(tokenKey(winners[0]!.json.access_token));
        expect(tokens[0].user_id).to.equal(user.id);
      }
    }

    addFigure('raceRuns', runs);
    addFigure('raceSingleWinners', singleWinners);
    expect(problems, problems.join('\n')).to.deep.equal([]);
    expect(singleWinners).to.equal(runs);
    expect(runs).to.equal(RACE_RUNS);
  });

  it('RFC 8628 §3.5: slow_down holds across processes, and the grown interval is stored for all', async () => {
    const flow = await startFlow(A(), await newClient());
    const first = await poll(A(), flow);
    expect(first.status, first.text).to.equal(400);
    expect(first.json.error).to.equal('authorization_pending');

    const tooSoon = await poll(B(), flow);
    expect(tooSoon.status, tooSoon.text).to.equal(400);
    expect(tooSoon.json.error).to.equal('slow_down');
    expect(tooSoon.json.interval).to.equal(POLL_INTERVAL + SLOW_DOWN_STEP);
    expect(Number((await row(flow)).poll_interval)).to.equal(POLL_INTERVAL + SLOW_DOWN_STEP);

    // A honours the interval B raised: after the old interval of 1 s it is still too soon.
    await sleep(POLL_INTERVAL * 1000 + 200);
    const stillTooSoon = await poll(A(), flow);
    expect(stillTooSoon.status, stillTooSoon.text).to.equal(400);
    expect(stillTooSoon.json.error).to.equal('slow_down');
    expect(stillTooSoon.json.interval).to.equal(POLL_INTERVAL + 2 * SLOW_DOWN_STEP);
    expect(Number((await row(flow)).poll_interval)).to.equal(POLL_INTERVAL + 2 * SLOW_DOWN_STEP);
  });

  it('RFC 8628 §5.1: wrong user codes entered at two processes add up to one lockout of the account, seen by both', async () => {
    const flow = await startFlow(A(), await newClient());
    const user = await newUser();
    // Two browsers of one person, at different processes and from different addresses: only
    // the account's count can reach the limit (5) — each address stays below it.
    const atA = await signedIn(A(), user);
    const atB = await signedIn(B(), user);
    const sequence: Browser[] = [atA, atB, atA, atB, atA];
    for (const [i, browser] of sequence.entries()) {
      const reply = await browser.enter(WRONG[i]!);
      expect(reply.status, `wrong code ${i + 1} at ${browser.node.name}: ${reply.text}`).to.equal(404);
    }

    const counter = await knex()('attempt_counters').where({ counter_key: `code:user:${user.id}` }).first();
    expect(Number(counter?.failures), 'failures counted for the account').to.equal(5);
    for (const browser of [atA, atB]) {
      const perAddress = await knex()('attempt_counters').where({ counter_key: `code:ip:${browser.ip}` }).first();
      expect(Number(perAddress?.failures)).to.be.below(5);
    }

    // Both processes now refuse this person, even the right code.
    for (const browser of [atB, atA]) {
      const locked = await browser.enter(flow.userCode);
      expect(locked.status, `right code at ${browser.node.name}: ${locked.text}`).to.equal(429);
      expect(Number(locked.headers.get('retry-after'))).to.be.within(3500, 3600);
    }
    // A third process, a new address, a new sign-in: still the same locked account.
    const elsewhere = await signedIn(cluster.node(2), user);
    expect((await elsewhere.enter(flow.userCode)).status).to.equal(429);

    const stored = await row(flow);
    expect(stored.status).to.equal('pending');
    expect(stored.user_id).to.equal(null);
    const pending = await poll(B(), flow);
    expect(pending.json?.error, pending.text).to.equal('authorization_pending');
  });

  it('RFC 9700 §4.14: a refresh token rotated at one process cannot be reused at another; the reuse revokes the approval', async () => {
    const client = await newClient(true);
    const user = await newUser();
    const flow = await startFlow(A(), client);
    await approve(await signedIn(B(), user), flow);
    const first = await poll(A(), flow);
    expect(first.status, first.text).to.equal(200);
    const original = first.json.refresh_token as string;
    expect(original).to.be.a('string');

    const rotated = await call(A(), 'POST', '/oauth/token', { form: { grant_type: 'refresh_token', client_id: client.id, refresh_token: original } });
    expect(rotated.status, rotated.text).to.equal(200);
    expect(rotated.json.refresh_token).to.be.a('string').and.not.equal(original);
    // The new tokens work everywhere before the reuse.
    expect((await me(B(), rotated.json.access_token)).status).to.equal(200);

    const reused = await call(B(), 'POST', '/oauth/token', { form: { grant_type: 'refresh_token', client_id: client.id, refresh_token: original } });
    expect(reused.status, reused.text).to.equal(400);
    expect(reused.json.error).to.equal('invalid_grant');

    // The approval is revoked, with every token of it, for every process.
    const stored = await row(flow);
    expect(stored.revoked_at, 'device_authorizations.revoked_at').to.not.equal(null);
    const accessRows = await knex()('access_tokens').where({ device_authorization_id: stored.id });
    const refreshRows = await knex()('refresh_tokens').where({ device_authorization_id: stored.id });
    expect(accessRows).to.have.length(2);
    expect(refreshRows).to.have.length(2);
    for (const r of [...accessRows, ...refreshRows]) expect(r.revoked_at, 'token revoked_at').to.not.equal(null);

    const newerRefresh = await call(A(), 'POST', '/oauth/token', { form: { grant_type: 'refresh_token', client_id: client.id, refresh_token: rotated.json.refresh_token } });
    expect(newerRefresh.status, newerRefresh.text).to.equal(400);
    expect(newerRefresh.json.error).to.equal('invalid_grant');
    for (const node of cluster.nodes) {
      expect((await me(node, rotated.json.access_token)).status, `new access token at ${node.name}`).to.equal(401);
      expect((await me(node, first.json.access_token)).status, `first access token at ${node.name}`).to.equal(401);
    }
  });
});
