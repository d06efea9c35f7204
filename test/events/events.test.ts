/**
 * Events for integrators: what a flow emits, in order and with which content; every reason a
 * token is revoked; a lockout; listeners that throw or reject are logged and change neither the
 * answer nor the write; and examples/audit-trail.ts, an append-only JSON-lines audit trail.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { auditTrail } from '../../examples/audit-trail';
import type { ServerEvent } from '../../src/events';
import { deviceCodeKey, tokenKey } from '../../src/helpers/secrets';
import { createLogger } from '../../src/logging';
import { poll, startFlow } from '../activation/flow';
import { forEachDatabase } from '../support/databases';
import { BrowserSession, type Reply } from '../support/http';
import { DEVICE_GRANT, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { REFRESH_GRANT } from '../tokens/lifecycle';

forEachDatabase('events (onEvent, events.on)', (db) => {
  let server: RunningServer;
  const events: ServerEvent[] = [];
  const logLines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logLines.push(JSON.parse(line));
      done();
    },
  });

  before(async () => {
    server = await startServer(db.store, {
      onEvent: (event) => void events.push(event),
      logger: createLogger('error', sink),
      userCodeMaxFailures: 3,
      attemptBackoff: 0,
      guessCeilingBits: 0,
    });
  });
  after(async () => server?.close());
  beforeEach(() => {
    events.length = 0;
    logLines.length = 0;
  });

  async function signedIn(): Promise<{ browser: BrowserSession; userId: string }> {
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    return { browser, userId: user.id };
  }

  const requestId = (reply: Reply) => reply.headers.get('x-request-id');

  it('a flow emits, in order: created, slow_down, approved, consumed, token.issued, token.refreshed, token.revoked, with ids, scopes, time, request id and IP', async () => {
    const flow = await startFlow(server, db.store, { scope: 'profile email', client: { grantTypes: [DEVICE_GRANT, REFRESH_GRANT] } });
    const row = await db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(flow.deviceCode) }).first();
    const startedAt = server.clock.now();
    expect((await poll(server, flow)).json.error).to.equal('authorization_pending');
    const tooSoon = await server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: flow.client.id, device_code: flow.deviceCode } });
    const { browser, userId } = await signedIn();
    const decided = await browser.decide(flow.userCode, 'approve');
    server.clock.advance(10); // the interval grew to 10 s; poll() waits 5 more
    const tokens = await poll(server, flow);
    const refreshed = await server.call('POST', '/oauth/token', { form: { grant_type: REFRESH_GRANT, client_id: flow.client.id, refresh_token: tokens.json.refresh_token } });
    const revoked = await server.call('POST', '/oauth/revoke', { form: { client_id: flow.client.id, token: refreshed.json.access_token } });
    expect(revoked.status).to.equal(200);

    const accessId = async (token: string) => String((await db.knex('access_tokens').where({ token_hash: tokenKey(token) }).first()).id);
    const refreshId = async (token: string) => String((await db.knex('refresh_tokens').where({ token_hash: tokenKey(token) }).first()).id);
    const flowFields = { authorizationId: String(row.id), clientId: flow.client.id, scopes: ['profile', 'email'] };
    const meta = (reply: Reply, time: number) => ({ requestId: requestId(reply), ip: '127.0.0.1', time });
    expect(events).to.deep.equal([
      { type: 'device_authorization.created', ...flowFields, expiresAt: startedAt + 900_000, requestId: events[0]!.requestId, ip: '127.0.0.1', time: startedAt },
      { type: 'device_authorization.slow_down', authorizationId: String(row.id), clientId: flow.client.id, interval: 10, ...meta(tooSoon, startedAt + 5000) },
      { type: 'device_authorization.approved', ...flowFields, userId, requestedAt: startedAt, ...meta(decided, startedAt + 5000) },
      { type: 'device_authorization.consumed', ...flowFields, userId, ...meta(tokens, startedAt + 20_000) },
      {
        type: 'token.issued',
        grantId: String(row.id),
        clientId: flow.client.id,
        userId,
        scopes: ['profile', 'email'],
        accessTokenId: await accessId(tokens.json.access_token),
        refreshTokenId: await refreshId(tokens.json.refresh_token),
        ...meta(tokens, startedAt + 20_000),
      },
      {
        type: 'token.refreshed',
        grantId: String(row.id),
        clientId: flow.client.id,
        userId,
        scopes: ['profile', 'email'],
        accessTokenId: await accessId(refreshed.json.access_token),
        refreshTokenId: await refreshId(refreshed.json.refresh_token),
        previousRefreshTokenId: await refreshId(tokens.json.refresh_token),
        ...meta(refreshed, startedAt + 20_000),
      },
      {
        type: 'token.revoked',
        what: 'access_token',
        reason: 'client_request',
        grantId: String(row.id),
        clientId: flow.client.id,
        userId,
        tokenId: await accessId(refreshed.json.access_token),
        ...meta(revoked, startedAt + 20_000),
      },
    ]);
    // The created event carries the request id of the device authorization request too.
    expect(events[0]!.requestId).to.match(/^[0-9a-f-]{36}$/);
    // No secret value anywhere in the events.
    const text = JSON.stringify(events);
    for (const secret of [flow.deviceCode, flow.userCode, flow.userCode.replace('-', ''), tokens.json.access_token, tokens.json.refresh_token, refreshed.json.access_token, refreshed.json.refresh_token]) {
      expect(text).not.to.include(secret);
    }
  });

  it('RFC 8628 §3.5: every slow_down of a code emits its event naming the flow, two flows polled in turn (on MySQL the later ones named from memory)', async () => {
    const flows = [await startFlow(server, db.store), await startFlow(server, db.store)];
    const ids = await Promise.all(flows.map(async (f) => String((await db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(f.deviceCode) }).first()).id)));
    const tooSoon = (f: (typeof flows)[number]) => server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: f.client.id, device_code: f.deviceCode } });
    server.clock.advance(5);
    for (const f of flows) expect((await tooSoon(f)).json.error).to.equal('authorization_pending');
    events.length = 0;
    for (let round = 0; round < 3; round++) for (const f of flows) expect((await tooSoon(f)).json.error).to.equal('slow_down');
    const named = events.filter((e) => e.type === 'device_authorization.slow_down').map((e) => e as { authorizationId: string; clientId: string; interval: number });
    expect(named.map((e) => [e.authorizationId, e.clientId, e.interval])).to.deep.equal(
      [10, 15, 20].flatMap((interval) => flows.map((f, i) => [ids[i], f.client.id, interval])),
    );
  });

  it('denied and expired flows, a lockout, a replayed code, a reused refresh token and a person revoking a device: one event each, with its reason', async () => {
    const { browser, userId } = await signedIn();
    const denied = await startFlow(server, db.store);
    await browser.decide(denied.userCode, 'deny');
    const expired = await startFlow(server, db.store);
    const replayed = await startFlow(server, db.store, { client: { grantTypes: [DEVICE_GRANT, REFRESH_GRANT] } });
    await browser.decide(replayed.userCode, 'approve');
    const tokens = await poll(server, replayed);
    expect((await poll(server, replayed)).json.error).to.equal('invalid_grant'); // the code again: replay
    server.clock.advance(901);
    expect((await poll(server, expired)).json.error).to.equal('expired_token');
    expect((await poll(server, expired)).json.error).to.equal('expired_token'); // noted once

    const second = await startFlow(server, db.store, { scope: 'profile', client: { grantTypes: [DEVICE_GRANT, REFRESH_GRANT], allowedScopes: ['profile', 'devices'] } });
    await browser.decide(second.userCode, 'approve');
    const secondTokens = await poll(server, second);
    const form = { grant_type: REFRESH_GRANT, client_id: second.client.id, refresh_token: secondTokens.json.refresh_token };
    expect((await server.call('POST', '/oauth/token', { form })).status).to.equal(200);
    expect((await server.call('POST', '/oauth/token', { form })).json.error).to.equal('invalid_grant'); // reuse

    const third = await startFlow(server, db.store);
    await browser.decide(third.userCode, 'approve');
    expect((await poll(server, third)).status).to.equal(200);
    const thirdRow = await db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(third.deviceCode) }).first();
    const page = await browser.get('/account/devices');
    expect((await browser.post('/account/devices', { csrf_token: BrowserSession.csrf(page), grant_id: String(thirdRow.id) })).status).to.equal(303);

    const guesser = await signedIn();
    for (let i = 0; i < 3; i++) expect((await guesser.browser.decide('BCDF-GHJK', 'approve')).status).to.equal(404);

    const of = (type: string) => events.filter((e) => e.type === type);
    expect(of('device_authorization.denied')).to.have.length(1);
    expect(of('device_authorization.denied')[0]).to.include({ clientId: denied.client.id, userId });
    expect(of('device_authorization.expired')).to.have.length(1);
    expect(of('device_authorization.expired')[0]).to.include({ clientId: expired.client.id, status: 'pending' });
    const revocations = of('token.revoked').map((e) => e.type === 'token.revoked' && [e.reason, e.what, e.clientId]);
    expect(revocations).to.deep.equal([
      ['device_code_replay', 'grant', replayed.client.id],
      ['refresh_token_reuse', 'grant', second.client.id],
      ['user_request', 'grant', third.client.id],
    ]);
    expect(tokens.status).to.equal(200);
    const lockouts = of('user_code.lockout').map((e) => e.type === 'user_code.lockout' && [e.subject, e.userId, e.lockoutSeconds]);
    expect(lockouts).to.deep.equal([
      ['ip', guesser.userId, 3600],
      ['account', guesser.userId, 3600],
    ]);
  });

  it('events.on is typed and hears only its type; a listener that throws or rejects is logged, and the answer and the write stand', async () => {
    const issued: string[] = [];
    const offs = [
      server.oauth.events.on('token.issued', (e) => void issued.push(e.accessTokenId)), // e is the token.issued event
      server.oauth.events.on('token.issued', () => {
        throw new Error('listener bug');
      }),
      server.oauth.events.on('device_authorization.consumed', async () => {
        throw new Error('webhook down');
      }),
    ];
    try {
      server.clock.advance(3601); // past the lockout of 127.0.0.1 by the test before
      const flow = await startFlow(server, db.store);
      const { browser } = await signedIn();
      await browser.decide(flow.userCode, 'approve');
      const tokens = await poll(server, flow);
      expect(tokens.status, tokens.text).to.equal(200);
      expect(tokens.json.access_token).to.be.a('string');
      const stored = await db.knex('access_tokens').where({ token_hash: tokenKey(tokens.json.access_token) }).first();
      expect(stored, 'the token was stored').to.exist;
      expect(issued).to.deep.equal([String(stored.id)]);
      // Other listeners, onEvent included, still heard the events.
      expect(events.map((e) => e.type)).to.include.members(['device_authorization.consumed', 'token.issued']);
      await new Promise((resolve) => setImmediate(resolve)); // the rejection is logged on a later tick
      const failures = logLines.filter((l) => l.msg === 'event listener failed');
      expect(failures.map((l) => [l.event, (l.err as { message: string }).message])).to.have.deep.members([
        ['token.issued', 'listener bug'],
        ['device_authorization.consumed', 'webhook down'],
      ]);
      expect(failures.every((l) => l.reqId === tokens.headers.get('x-request-id'))).to.equal(true);
      expect(JSON.stringify(failures)).not.to.include(tokens.json.access_token);
    } finally {
      offs.forEach((off) => off());
    }
  });
});

forEachDatabase('examples/audit-trail.ts', (db) => {
  let server: RunningServer;
  let dir: string;
  let file: string;
  let trail: ReturnType<typeof auditTrail>;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'o2d-audit-'));
    file = join(dir, 'audit.jsonl');
    trail = auditTrail(file);
    server = await startServer(db.store, { onEvent: trail.record });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one JSON line per event, in order, with ISO times, ids, request ids and IPs, and no secret', async () => {
    const flow = await startFlow(server, db.store, { client: { grantTypes: [DEVICE_GRANT, REFRESH_GRANT] } });
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    await browser.signIn(user.username, TEST_PASSWORD);
    await browser.decide(flow.userCode, 'approve');
    const tokens = await poll(server, flow);
    const refreshed = await server.call('POST', '/oauth/token', { form: { grant_type: REFRESH_GRANT, client_id: flow.client.id, refresh_token: tokens.json.refresh_token } });
    await server.call('POST', '/oauth/revoke', { form: { client_id: flow.client.id, token: refreshed.json.refresh_token } });
    await trail.flush();

    const text = readFileSync(file, 'utf8');
    const lines = text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((l) => l.type)).to.deep.equal([
      'device_authorization.created',
      'device_authorization.approved',
      'device_authorization.consumed',
      'token.issued',
      'token.refreshed',
      'token.revoked',
    ]);
    for (const line of lines) {
      expect(line.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(line.requestId).to.match(/^[0-9a-f-]{36}$/);
      expect(line.ip).to.equal('127.0.0.1');
      expect(line.clientId).to.equal(flow.client.id);
    }
    expect(lines[1].userId).to.equal(user.id);
    for (const secret of [flow.deviceCode, flow.userCode, tokens.json.access_token, tokens.json.refresh_token, refreshed.json.access_token, refreshed.json.refresh_token, TEST_PASSWORD]) {
      expect(text).not.to.include(secret);
    }
  });
});
