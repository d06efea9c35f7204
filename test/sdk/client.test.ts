/**
 * The hand-written client layer (src/client) against the running app: the polling rules of
 * RFC 8628 §3.5, refresh with rotation, revocation, the authorized fetch and client
 * authentication. Every response is checked against openapi.yaml (checkedFetch). The client's
 * clock does not sleep: each wait is recorded and moves the server's clock on, so minutes of
 * polling take milliseconds while the server sees the time pass.
 */
import { expect } from 'chai';
import {
  AbortedError,
  AccessDeniedError,
  DeviceClient,
  ExpiredTokenError,
  memoryTokenStorage,
  OAuthResponseError,
  type DeviceAuthorization,
  type TokenSet,
} from '../../src/client';
import type { UserRecord } from '../../src/storage/store';
import { forEachDatabase } from '../support/databases';
import { basic, BrowserSession } from '../support/http';
import { DEVICE_GRANT, makeConfidentialClient, makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { contractFetch, pollsIn, recordingFetch, StepClock, type Sent } from './recording';

const REFRESHING = { grantTypes: [DEVICE_GRANT, 'refresh_token'] };

forEachDatabase('client layer (DeviceClient) against the server', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  /** Responses that did not match openapi.yaml (the client would take them for transport errors). */
  const violations: Error[] = [];
  afterEach(() => {
    const found = violations.splice(0);
    expect(found.map((e) => e.message), 'contract violations').to.deep.equal([]);
  });

  /** A DeviceClient on checkedFetch and a StepClock moving `target`'s clock. */
  function device(clientId: string, options: { clientSecret?: string; target?: RunningServer; advanceBy?: (ms: number, index: number) => number } = {}) {
    const target = options.target ?? server;
    const clock = new StepClock(target.clock, options.advanceBy);
    const sent: Sent[] = [];
    const client = new DeviceClient({
      issuer: target.url,
      clientId,
      clientSecret: options.clientSecret,
      fetch: recordingFetch(contractFetch(violations), clock.now, sent),
      clock,
    });
    return { client, clock, sent };
  }

  async function signedIn(target = server): Promise<{ person: UserRecord; browser: BrowserSession }> {
    const person = await makeUser(db.store);
    const browser = new BrowserSession(target.url);
    const reply = await browser.signIn(person.username, TEST_PASSWORD);
    expect(reply.status, reply.text).to.equal(303);
    return { person, browser };
  }

  async function decide(browser: BrowserSession, userCode: string, decision: 'approve' | 'deny'): Promise<void> {
    const reply = await browser.decide(userCode, decision);
    expect(reply.status, reply.text).to.equal(200);
  }

  /** The device flow to the end: the person approves after the first pending poll. */
  async function connect(d: ReturnType<typeof device>): Promise<{ tokens: TokenSet; person: UserRecord; authorization: DeviceAuthorization }> {
    const { person, browser } = await signedIn();
    const authorization = await d.client.startDeviceAuthorization({ scope: 'profile' });
    let approved = false;
    const tokens = await d.client.pollForToken(authorization, {
      onPending: () => {
        if (!approved) d.clock.during(decide(browser, authorization.user_code, 'approve'));
        approved = true;
      },
    });
    return { tokens, person, authorization };
  }

  function me(accessToken: string) {
    return server.call('GET', '/api/me', { headers: { authorization: `Bearer ${accessToken}` } });
  }

  async function rejection(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (err) {
      return err;
    }
    expect.fail('expected the promise to be rejected');
  }

  it('RFC 8628 §3.4-§3.5: waits `interval` before every poll, keeps polling while pending, returns the token once approved', async () => {
    const client = await makePublicClient(db.store, REFRESHING);
    const d = device(client.id);
    const { person, browser } = await signedIn();

    const authorization = await d.client.startDeviceAuthorization({ scope: 'profile' });
    expect(authorization.interval).to.equal(5);
    expect(authorization.expires_in).to.equal(900);
    expect(authorization.receivedAt).to.equal(server.clock.ms);
    const start = server.clock.ms;

    const pending: number[] = [];
    const tokens = await d.client.pollForToken(authorization, {
      onPending: (secondsLeft) => {
        pending.push(secondsLeft);
        if (pending.length === 1) d.clock.during(decide(browser, authorization.user_code, 'approve'));
      },
    });

    expect(d.clock.waits).to.deep.equal([5000, 5000]);
    expect(pending).to.deep.equal([895]);
    expect(pollsIn(d.sent).map((p) => p.at - start)).to.deep.equal([5000, 10000]);
    expect(pollsIn(d.sent).every((p) => p.form?.get('client_id') === client.id)).to.equal(true);
    expect(tokens.token_type).to.equal('Bearer');
    expect(tokens.scope).to.equal('profile');
    expect(tokens.expires_in).to.equal(3600);
    expect(tokens.refresh_token).to.be.a('string');

    const reply = await me(tokens.access_token);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.json).to.include({ sub: person.id, username: person.username, client_id: client.id, scope: 'profile' });
  });

  it('RFC 8628 §3.5 access_denied: a denial ends polling with AccessDeniedError (400 access_denied)', async () => {
    const client = await makePublicClient(db.store);
    const d = device(client.id);
    const { browser } = await signedIn();
    const authorization = await d.client.startDeviceAuthorization();

    const err = await rejection(
      d.client.pollForToken(authorization, {
        onPending: () => d.clock.during(decide(browser, authorization.user_code, 'deny')),
      }),
    );

    expect(err).to.be.instanceOf(AccessDeniedError);
    expect((err as AccessDeniedError).error).to.equal('access_denied');
    expect((err as AccessDeniedError).status).to.equal(400);
    expect(d.clock.waits).to.deep.equal([5000, 5000]);
    expect(pollsIn(d.sent)).to.have.length(2);
  });

  it('RFC 8628 §3.5 expired_token: without a decision the client stops with ExpiredTokenError and never polls after expires_in', async () => {
    const short = await startServer(db.store, { deviceCodeLifetime: 60 });
    try {
      const client = await makePublicClient(db.store);
      const d = device(client.id, { target: short });
      const authorization = await d.client.startDeviceAuthorization();
      expect(authorization.expires_in).to.equal(60);
      const deadline = authorization.receivedAt + 60_000;

      const pending: number[] = [];
      const err = await rejection(d.client.pollForToken(authorization, { onPending: (left) => pending.push(left) }));

      expect(err).to.be.instanceOf(ExpiredTokenError);
      expect((err as ExpiredTokenError).error).to.equal('expired_token');
      // Polls at 5, 10, ... 55 s; a poll at 60 s would be after expires_in, so none is sent.
      const polls = pollsIn(d.sent);
      expect(polls.map((p) => (p.at - authorization.receivedAt) / 1000)).to.deep.equal([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]);
      expect(polls.every((p) => p.at < deadline)).to.equal(true);
      expect(pending).to.deep.equal([55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5]);
      expect(d.clock.waits).to.deep.equal(Array(11).fill(5000));
      expect(short.clock.ms).to.be.below(deadline);
    } finally {
      await short.close();
    }
  });

  it('RFC 8628 §3.5 slow_down: a too-early poll gets slow_down and the interval grows by 5 s for this and every later poll', async () => {
    const client = await makePublicClient(db.store);
    // The server takes the first poll of a code whenever it comes; the second wait moves the
    // server's clock only 2 of the 5 seconds, so the second poll is too early.
    const d = device(client.id, { advanceBy: (ms, index) => (index === 1 ? 2000 : ms) });
    const { person, browser } = await signedIn();
    const authorization = await d.client.startDeviceAuthorization();
    const start = authorization.receivedAt;

    const slowDowns: number[] = [];
    let pendings = 0;
    const tokens = await d.client.pollForToken(authorization, {
      onSlowDown: (interval) => slowDowns.push(interval),
      onPending: () => {
        pendings++;
        if (pendings === 2) d.clock.during(decide(browser, authorization.user_code, 'approve'));
      },
    });

    expect(slowDowns).to.deep.equal([10]);
    expect(pendings).to.equal(2);
    expect(d.clock.waits).to.deep.equal([5000, 5000, 10000, 10000]);
    expect(pollsIn(d.sent).map((p) => (p.at - start) / 1000)).to.deep.equal([5, 7, 17, 27]);
    const reply = await me(tokens.access_token);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.json.username).to.equal(person.username);
  });

  it('abort: a signal fired while polling ends with AbortedError and no further poll', async () => {
    const client = await makePublicClient(db.store);
    const d = device(client.id);
    const authorization = await d.client.startDeviceAuthorization();
    const controller = new AbortController();

    const err = await rejection(d.client.pollForToken(authorization, { signal: controller.signal, onPending: () => controller.abort() }));

    expect(err).to.be.instanceOf(AbortedError);
    expect(pollsIn(d.sent)).to.have.length(1);
    expect(d.clock.waits).to.deep.equal([5000]);
  });

  it('RFC 9700 §4.14 refresh rotation: refresh() returns new tokens; the old refresh token is then refused (invalid_grant) and the whole approval is revoked', async () => {
    const client = await makePublicClient(db.store, REFRESHING);
    const d = device(client.id);
    const { tokens, person } = await connect(d);

    const renewed = await d.client.refresh(tokens.refresh_token!);
    expect(renewed.access_token).to.be.a('string').and.not.equal(tokens.access_token);
    expect(renewed.refresh_token).to.be.a('string').and.not.equal(tokens.refresh_token);
    expect(renewed.scope).to.equal('profile');
    const works = await me(renewed.access_token);
    expect(works.status, works.text).to.equal(200);
    expect(works.json.username).to.equal(person.username);

    const err = await rejection(d.client.refresh(tokens.refresh_token!));
    expect(err).to.be.instanceOf(OAuthResponseError);
    expect(err).not.to.be.instanceOf(AccessDeniedError);
    expect((err as OAuthResponseError).error).to.equal('invalid_grant');
    expect((err as OAuthResponseError).status).to.equal(400);

    // Reuse revoked every token of the approval, the new ones included.
    const refused = await me(renewed.access_token);
    expect(refused.status, refused.text).to.equal(401);
    expect(refused.json.error).to.equal('invalid_token');
    const again = await rejection(d.client.refresh(renewed.refresh_token!));
    expect((again as OAuthResponseError).error).to.equal('invalid_grant');
  });

  it('authorizedFetch: sends the bearer token; on a 401 refreshes once, saves the new tokens and retries', async () => {
    const client = await makePublicClient(db.store, REFRESHING);
    const d = device(client.id);
    const { tokens, person } = await connect(d);

    const storage = memoryTokenStorage(tokens);
    const saved: TokenSet[] = [];
    const api = d.client.authorizedFetch({ load: () => storage.load(), save: async (t) => (saved.push(t), storage.save(t)) });

    d.sent.length = 0;
    const first = await api(`${server.url}/api/me`);
    expect(first.status).to.equal(200);
    expect((await first.json()).username).to.equal(person.username);
    expect(d.sent.map((s) => s.headers.get('authorization'))).to.deep.equal([`Bearer ${tokens.access_token}`]);
    expect(saved).to.have.length(0);

    // The server revokes the access token (RFC 7009); the refresh token stays valid.
    const revoked = await server.call('POST', '/oauth/revoke', { form: { token: tokens.access_token, token_type_hint: 'access_token', client_id: client.id } });
    expect(revoked.status, revoked.text).to.equal(200);
    expect((await me(tokens.access_token)).status).to.equal(401);

    d.sent.length = 0;
    const second = await api(`${server.url}/api/me`);
    expect(second.status).to.equal(200);
    expect((await second.json()).username).to.equal(person.username);

    expect(saved).to.have.length(1);
    const renewed = saved[0]!;
    expect(renewed.access_token).not.to.equal(tokens.access_token);
    expect(renewed.refresh_token).to.be.a('string').and.not.equal(tokens.refresh_token);
    expect(await storage.load()).to.deep.equal(renewed);
    expect(d.sent.map((s) => `${s.method} ${s.path}`)).to.deep.equal(['GET /api/me', 'POST /oauth/token', 'GET /api/me']);
    expect(d.sent[1]!.form?.get('grant_type')).to.equal('refresh_token');
    expect(d.sent[1]!.form?.get('refresh_token')).to.equal(tokens.refresh_token);
    expect(d.sent[0]!.headers.get('authorization')).to.equal(`Bearer ${tokens.access_token}`);
    expect(d.sent[2]!.headers.get('authorization')).to.equal(`Bearer ${renewed.access_token}`);
  });

  it('RFC 7009: revoke() of a refresh token revokes it and the access tokens of its approval', async () => {
    const client = await makePublicClient(db.store, REFRESHING);
    const d = device(client.id);
    const { tokens } = await connect(d);
    expect((await me(tokens.access_token)).status).to.equal(200);

    d.sent.length = 0;
    await d.client.revoke(tokens.refresh_token!, 'refresh_token');
    expect(d.sent.map((s) => `${s.method} ${s.path}`)).to.deep.equal(['POST /oauth/revoke']);
    expect(d.sent[0]!.form?.get('token')).to.equal(tokens.refresh_token);
    expect(d.sent[0]!.form?.get('token_type_hint')).to.equal('refresh_token');
    expect(d.sent[0]!.form?.get('client_id')).to.equal(client.id);

    const refused = await me(tokens.access_token);
    expect(refused.status, refused.text).to.equal(401);
    const err = await rejection(d.client.refresh(tokens.refresh_token!));
    expect(err).to.be.instanceOf(OAuthResponseError);
    expect((err as OAuthResponseError).error).to.equal('invalid_grant');
    // RFC 7009 §2.2: revoking it again is answered 200 as well.
    await d.client.revoke(tokens.refresh_token!);
  });

  it('RFC 6749 §2.3.1: a confidential client authenticates with HTTP Basic, id and secret form-urlencoded', async () => {
    const clientId = 'svc:1 +x';
    const { client, secret } = await makeConfidentialClient(db.store, { id: clientId, ...REFRESHING });
    const d = device(client.id, { clientSecret: secret });
    const { tokens, person } = await connect(d);

    const reply = await me(tokens.access_token);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.json).to.include({ username: person.username, client_id: clientId });

    const renewed = await d.client.refresh(tokens.refresh_token!);
    expect(renewed.access_token).not.to.equal(tokens.access_token);
    await d.client.revoke(renewed.refresh_token!, 'refresh_token');
    expect((await me(renewed.access_token)).status).to.equal(401);

    // Every request: Basic with the form-encoded id ("svc%3A1+%2Bx"), no client_id in the body.
    const oauthRequests = d.sent.filter((s) => s.path.startsWith('/oauth/'));
    expect(oauthRequests.map((s) => s.path)).to.include.members(['/oauth/device_authorization', '/oauth/token', '/oauth/revoke']);
    for (const s of oauthRequests) {
      expect(s.headers.get('authorization')).to.equal(basic(clientId, secret));
      expect(s.form?.has('client_id')).to.equal(false);
      expect(s.form?.has('client_secret')).to.equal(false);
    }
    const decoded = Buffer.from(basic(clientId, secret).slice('Basic '.length), 'base64').toString('utf8');
    expect(decoded).to.equal(`svc%3A1+%2Bx:${secret}`);

    // A wrong secret is refused.
    const wrong = device(client.id, { clientSecret: `${secret}-wrong` });
    const err = await rejection(wrong.client.startDeviceAuthorization());
    expect(err).to.be.instanceOf(OAuthResponseError);
    expect((err as OAuthResponseError).error).to.equal('invalid_client');
    expect((err as OAuthResponseError).status).to.equal(401);
  });
});
