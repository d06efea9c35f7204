import { expect } from 'chai';
import { BrowserSession, basic } from '../support/http';
import { forEachDatabase } from '../support/databases';
import {
  DEVICE_GRANT,
  makeConfidentialClient,
  makePublicClient,
  makeUser,
  startServer,
  TEST_PASSWORD,
  type RunningServer,
} from '../support/server';
import type { ClientRecord, UserRecord } from '../../src/storage/store';
import { PREFIX, randomId, randomSecret, sha256 } from '../../src/helpers/secrets';
import { alteredStore } from '../support/altered-store';

forEachDatabase('token endpoint, device code grant', (db) => {
  let server: RunningServer;
  let client: ClientRecord;
  let person: UserRecord;
  let browser: BrowserSession;

  before(async () => {
    server = await startServer(db.store);
    person = await makeUser(db.store);
    browser = new BrowserSession(server.url);
    expect((await browser.signIn(person.username, TEST_PASSWORD)).status).to.equal(303);
  });
  after(async () => server.close());
  beforeEach(async () => {
    client = await makePublicClient(db.store);
  });

  async function startFlow(form: Record<string, string> = { client_id: client.id }, headers?: Record<string, string>) {
    const reply = await server.call('POST', '/oauth/device_authorization', { form, headers });
    expect(reply.status).to.equal(200);
    return reply.json as { device_code: string; user_code: string; interval: number; expires_in: number };
  }

  const poll = (device_code: string, extra: Record<string, string> = { client_id: client.id }, headers?: Record<string, string>) =>
    server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, device_code, ...extra }, headers });

  it('RFC 8628 §3.5: authorization_pending while the person has not decided', async () => {
    const flow = await startFlow();
    const reply = await poll(flow.device_code);
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('authorization_pending');
    expect(reply.headers.get('cache-control')).to.equal('no-store');
  });

  it('RFC 8628 §3.4: a device code issued before the time-led key (stored by its whole SHA-256) is still answered, pending then tokens', async () => {
    // Codes in flight when a server with the time-led key replaces an older one: 50 characters, no time.
    const deviceCode = randomSecret(PREFIX.deviceCode);
    const id = randomId();
    const now = server.clock.now();
    await db.store.createDeviceAuthorization({
      id, deviceCodeHash: sha256(deviceCode), userCodeHash: sha256(randomSecret()), clientId: client.id, scopes: [],
      createdAt: now, expiresAt: now + 600_000, pollInterval: 5, requestIp: null, userAgent: null,
    });
    expect((await poll(deviceCode)).json.error).to.equal('authorization_pending');
    expect(await db.store.decide(id, 'approved', person.id, now)).to.equal(true);
    server.clock.advance(5);
    const reply = await poll(deviceCode);
    expect(reply.status, JSON.stringify(reply.json)).to.equal(200);
    expect(reply.json.access_token).to.be.a('string');
  });

  it('RFC 8628 §3.4: the stored key of a new device code is led by the time it was issued', async () => {
    const flow = await startFlow();
    const [, time] = /^o2d_dc_([0-9a-f]{12})/.exec(flow.device_code) ?? [];
    expect(parseInt(time!, 16)).to.equal(server.clock.now());
    const rows = await db.knex('device_authorizations').where({ client_id: client.id });
    expect(rows.map((r: Record<string, unknown>) => String(r.device_code_hash).slice(0, 12))).to.deep.equal([time]);
  });

  it('RFC 8628 §3.4: with timedDeviceCodes off (a rolling upgrade from an older release), codes carry no time, are stored by their whole SHA-256 and work', async () => {
    const older = await startServer(db.store, { timedDeviceCodes: false });
    try {
      const started = await older.call('POST', '/oauth/device_authorization', { form: { client_id: client.id } });
      const deviceCode = started.json.device_code as string;
      expect(deviceCode).to.match(/^o2d_dc_[A-Za-z0-9_-]{43}$/);
      const row = await db.knex('device_authorizations').where({ device_code_hash: sha256(deviceCode) }).first();
      expect(row, 'stored by the whole SHA-256, as an older release looks it up').to.exist;
      const reply = await older.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, device_code: deviceCode, client_id: client.id } });
      expect(reply.json.error).to.equal('authorization_pending');
    } finally {
      await older.close();
    }
  });

  it('RFC 8628 §3.5: the first poll is never slow_down, even right after the request', async () => {
    const flow = await startFlow();
    expect((await poll(flow.device_code)).json.error).to.equal('authorization_pending');
  });

  it('RFC 8628 §3.5: slow_down adds 5 s to the interval and says the new interval', async () => {
    const flow = await startFlow();
    await poll(flow.device_code);
    server.clock.advance(2);
    const reply = await poll(flow.device_code);
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('slow_down');
    expect(reply.json.interval).to.equal(10);
    const row = await db.knex('device_authorizations').where({ client_id: client.id }).first();
    expect(Number(row.poll_interval)).to.equal(10);
  });

  if (db.kind === 'mysql') it('MySQL: a public client\'s pending poll is one statement; slow_down two (the second names the flow in its event)', async () => {
    // Questions counts every statement clients send (SHOW STATUS itself too), prepared or not.
    const questions = async () => Number(((await db.knex.raw("SHOW GLOBAL STATUS LIKE 'Questions'")) as [{ Value: string }[]])[0][0]!.Value);
    const flow = await startFlow();
    const statementsOf = async (call: () => Promise<{ json: { error?: string } }>) => {
      const before = await questions();
      const error = (await call()).json.error;
      return { error, statements: (await questions()) - before - 1 };
    };
    expect(await statementsOf(() => poll(flow.device_code))).to.deep.equal({ error: 'authorization_pending', statements: 1 });
    expect(await statementsOf(() => poll(flow.device_code))).to.deep.equal({ error: 'slow_down', statements: 2 });
  });

  it('RFC 8628 §3.5: the grown interval holds for all later polls', async () => {
    const flow = await startFlow();
    await poll(flow.device_code); // accepted at t=0
    server.clock.advance(1);
    expect((await poll(flow.device_code)).json.interval).to.equal(10); // slow_down at t=1
    server.clock.advance(5); // t=6: the old 5 s interval has passed, the new 10 s has not
    const early = await poll(flow.device_code);
    expect(early.json.error).to.equal('slow_down');
    expect(early.json.interval).to.equal(15);
    server.clock.advance(15); // t=21 >= 0 + 15
    expect((await poll(flow.device_code)).json.error).to.equal('authorization_pending');
  });

  it('RFC 8628 §3.5: a poll after the interval is accepted', async () => {
    const flow = await startFlow();
    await poll(flow.device_code);
    server.clock.advance(5);
    expect((await poll(flow.device_code)).json.error).to.equal('authorization_pending');
  });

  it('RFC 8628 §3.5: slow_down is enforced by every server process, from the database', async () => {
    // A second app with its own connection pool to the same database: nothing shared in memory.
    const otherStore = db.openAnother();
    const other = await startServer(otherStore);
    other.clock.ms = server.clock.ms;
    try {
      const flow = await startFlow();
      expect((await poll(flow.device_code)).json.error).to.equal('authorization_pending');
      server.clock.advance(2);
      other.clock.ms = server.clock.ms;
      const reply = await other.call('POST', '/oauth/token', {
        form: { grant_type: DEVICE_GRANT, device_code: flow.device_code, client_id: client.id },
      });
      expect(reply.json.error).to.equal('slow_down');
      expect(reply.json.interval).to.equal(10);
    } finally {
      await other.close();
      await otherStore.close();
    }
  });

  it('RFC 8628 §3.5: access_denied after the person denies', async () => {
    const flow = await startFlow();
    expect((await browser.decide(flow.user_code, 'deny')).status).to.equal(200);
    const reply = await poll(flow.device_code);
    expect(reply.json.error).to.equal('access_denied');
  });

  it('RFC 8628 §3.5: expired_token once the code has expired', async () => {
    const flow = await startFlow();
    server.clock.advance(flow.expires_in);
    const reply = await poll(flow.device_code);
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('expired_token');
  });

  it('RFC 8628 §3.5: an approved code that expires before the exchange is expired_token', async () => {
    const flow = await startFlow();
    await browser.decide(flow.user_code, 'approve');
    server.clock.advance(flow.expires_in + 1);
    expect((await poll(flow.device_code)).json.error).to.equal('expired_token');
  });

  it('RFC 6749 §5.2: an unknown device code is invalid_grant', async () => {
    const reply = await poll('o2d_dc_not-a-real-code');
    expect(reply.json.error).to.equal('invalid_grant');
  });

  it('RFC 6749 §5.2: a device code issued to another client is invalid_grant', async () => {
    const flow = await startFlow();
    const thief = await makePublicClient(db.store);
    const reply = await poll(flow.device_code, { client_id: thief.id });
    expect(reply.json.error).to.equal('invalid_grant');
  });

  it('RFC 6749 §5.1: an approved code yields a Bearer token with expires_in, scope, no-store and no-cache', async () => {
    const flow = await startFlow({ client_id: client.id, scope: 'profile email' });
    await browser.decide(flow.user_code, 'approve');
    const reply = await poll(flow.device_code);
    expect(reply.status).to.equal(200);
    expect(reply.json.token_type).to.equal('Bearer');
    expect(reply.json.expires_in).to.equal(3600);
    expect(reply.json.scope).to.equal('profile email');
    expect(reply.json.access_token).to.match(/^o2d_at_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    expect(reply.headers.get('pragma')).to.equal('no-cache');
  });

  it('the token belongs to the person who approved, not to the client', async () => {
    const flow = await startFlow();
    await browser.decide(flow.user_code, 'approve');
    const { access_token } = (await poll(flow.device_code)).json;
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${access_token}` } });
    expect(me.status).to.equal(200);
    expect(me.json.username).to.equal(person.username);
    expect(me.json.sub).to.equal(person.id);
    expect(me.json.client_id).to.equal(client.id);
  });

  it('access tokens are stored only as hashes', async () => {
    const flow = await startFlow();
    await browser.decide(flow.user_code, 'approve');
    const { access_token } = (await poll(flow.device_code)).json;
    const rows = await db.knex('access_tokens').where({ client_id: client.id });
    expect(rows).to.have.length(1);
    expect(JSON.stringify(rows)).not.to.include(access_token);
  });

  it('RFC 6749 §4.1.2: a used code is invalid_grant, and the replay revokes the token issued for it', async () => {
    const flow = await startFlow();
    await browser.decide(flow.user_code, 'approve');
    const { access_token } = (await poll(flow.device_code)).json;
    server.clock.advance(5);
    const replay = await poll(flow.device_code);
    expect(replay.json.error).to.equal('invalid_grant');
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${access_token}` } });
    expect(me.status).to.equal(401);
  });

  it('single use: 50 concurrent polls of one approved code yield exactly one token', async () => {
    const flow = await startFlow();
    await browser.decide(flow.user_code, 'approve');
    const replies = await Promise.all(Array.from({ length: 50 }, () => poll(flow.device_code)));
    const successes = replies.filter((r) => r.status === 200);
    expect(successes).to.have.length(1);
    for (const r of replies.filter((x) => x.status !== 200)) expect(['slow_down', 'invalid_grant']).to.include(r.json.error);
    const tokens = await db.knex('access_tokens').where({ client_id: client.id });
    expect(tokens).to.have.length(1);
  });

  it('single use: concurrent exchanges at the store, past the interval check, have one winner', async () => {
    const flow = await startFlow();
    await browser.decide(flow.user_code, 'approve');
    const row = await db.knex('device_authorizations').where({ client_id: client.id }).first();
    // MySQL: two connection pools, as two processes would have. SQLite: one, since two
    // synchronous better-sqlite3 connections in one process would wait on each other's locks
    // while blocking the event loop that must release them (processes do not share that loop).
    const stores = db.kind === 'mysql' ? [db.store, db.openAnother()] : [db.store];
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          stores[i % stores.length]!.exchange(row.id, {
            id: `race-${row.id}-${i}`,
            tokenHash: `${i}`.padStart(64, 'f'),
            clientId: client.id,
            userId: person.id,
            scopes: ['profile'],
            deviceAuthorizationId: row.id,
            createdAt: server.clock.ms,
            expiresAt: server.clock.ms + 3600_000,
          }),
        ),
      );
      expect(results.filter(Boolean)).to.have.length(1);
      expect(await db.knex('access_tokens').where({ device_authorization_id: row.id })).to.have.length(1);
    } finally {
      if (stores[1]) await stores[1].close();
    }
  });

  it('RFC 8628 §3.5: a poll of an approved code sooner than the interval is slow_down +5 s, and the code stays approved and unexchanged', async () => {
    const flow = await startFlow();
    await poll(flow.device_code);
    await browser.decide(flow.user_code, 'approve');
    server.clock.advance(2);
    const reply = await poll(flow.device_code);
    expect([reply.status, reply.json.error, reply.json.interval]).to.deep.equal([400, 'slow_down', 10]);
    const row = await db.knex('device_authorizations').where({ client_id: client.id }).first();
    expect([row.status, Number(row.poll_interval)]).to.deep.equal(['approved', 10]);
    expect(await db.knex('access_tokens').where({ client_id: client.id })).to.have.length(0);
    server.clock.advance(10);
    expect((await poll(flow.device_code)).status).to.equal(200);
  });

  it('RFC 8628 §3.5: a too-soon poll of an approved code reads no person and makes no tokens; the next due poll does both', async () => {
    // The real store, its person reads counted.
    let personReads = 0;
    const counting = alteredStore(db.store, (key, member) =>
      key === 'findUserById' ? (...args: unknown[]) => (personReads++, (member as (...a: unknown[]) => unknown)(...args)) : member,
    );
    const other = await startServer(counting);
    try {
      other.clock.ms = server.clock.ms;
      const flow = await startFlow();
      const otherPoll = () => other.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, device_code: flow.device_code, client_id: client.id } });
      await browser.decide(flow.user_code, 'approve');
      expect((await otherPoll()).status, 'the first poll').to.equal(200);
      expect(personReads).to.equal(1);
      // A second approved code, polled once, then too soon three times.
      const second = await startFlow();
      const secondPoll = () => other.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, device_code: second.device_code, client_id: client.id } });
      expect((await secondPoll()).json.error).to.equal('authorization_pending');
      await browser.decide(second.user_code, 'approve');
      const before = personReads;
      for (const seconds of [1, 1, 1]) {
        other.clock.advance(seconds);
        expect((await secondPoll()).json.error).to.equal('slow_down');
      }
      expect(personReads - before, 'person reads by too-soon polls').to.equal(0);
      expect(await db.knex('access_tokens').where({ client_id: client.id })).to.have.length(1);
      other.clock.advance(20); // the interval is 5 + 3 x 5 s now
      const tokens = await secondPoll();
      expect(tokens.status, tokens.text).to.equal(200);
      expect(personReads - before).to.equal(1);
    } finally {
      await other.close();
    }
  });

  it('RFC 6749 §5.2: a code approved by a person since disabled is invalid_grant, the poll is still recorded, and no token is stored', async () => {
    const flow = await startFlow();
    await browser.decide(flow.user_code, 'approve');
    await db.store.saveUser({ ...person, disabled: true }, server.clock.ms);
    try {
      const reply = await poll(flow.device_code);
      expect([reply.status, reply.json.error]).to.deep.equal([400, 'invalid_grant']);
      expect(reply.json.error_description).to.equal('the user who approved this device can no longer sign in');
      const row = await db.knex('device_authorizations').where({ client_id: client.id }).first();
      expect([row.status, Number(row.last_polled_at)]).to.deep.equal(['approved', server.clock.ms]);
      expect(await db.knex('access_tokens').where({ client_id: client.id })).to.have.length(0);
    } finally {
      await db.store.saveUser({ ...person, disabled: false }, server.clock.ms);
    }
  });

  it('a store without recordPollAndExchange (pluggable storage) records the poll and exchanges in turn: the same answers', async () => {
    const withoutCombined = alteredStore(db.store, (key, member) => (key === 'recordPollAndExchange' ? undefined : member));
    const other = await startServer(withoutCombined);
    try {
      other.clock.ms = server.clock.ms;
      const flow = await startFlow();
      const otherPoll = () => other.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, device_code: flow.device_code, client_id: client.id } });
      expect((await otherPoll()).json.error).to.equal('authorization_pending');
      await browser.decide(flow.user_code, 'approve');
      other.clock.advance(2);
      expect((await otherPoll()).json.error, 'too soon').to.equal('slow_down');
      other.clock.advance(10);
      const tokens = await otherPoll();
      expect(tokens.status, tokens.text).to.equal(200);
      const me = await other.call('GET', '/api/me', { headers: { authorization: `Bearer ${tokens.json.access_token}` } });
      expect(me.json.sub).to.equal(person.id);
      other.clock.advance(10);
      expect((await otherPoll()).json.error, 'a replay').to.equal('invalid_grant');
      expect(await db.knex('access_tokens').where({ client_id: client.id })).to.have.length(1);
    } finally {
      await other.close();
    }
  });

  it('RFC 6749 §5.2: an unknown grant_type is unsupported_grant_type', async () => {
    const reply = await server.call('POST', '/oauth/token', { form: { grant_type: 'password', client_id: client.id } });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('unsupported_grant_type');
  });

  it('RFC 6749 §5.2: a missing grant_type is invalid_request naming it', async () => {
    const reply = await server.call('POST', '/oauth/token', { form: { client_id: client.id } });
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.equal('grant_type is required');
  });

  it('RFC 8628 §3.4: a missing device_code is invalid_request naming it', async () => {
    const reply = await server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: client.id } });
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.equal('device_code is required');
  });

  it('RFC 6749 §5.2: a wrong secret over HTTP Basic is invalid_client with 401 and WWW-Authenticate', async () => {
    const confidential = await makeConfidentialClient(db.store);
    const flow = await startFlow({}, { authorization: basic(confidential.client.id, confidential.secret) });
    const reply = await poll(flow.device_code, {}, { authorization: basic(confidential.client.id, 'not-the-secret') });
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_client');
    expect(reply.headers.get('www-authenticate')).to.match(/^Basic realm="/);
  });

  it('RFC 8628 §3.4: a confidential client must authenticate when polling too', async () => {
    const confidential = await makeConfidentialClient(db.store);
    const flow = await startFlow({ client_id: confidential.client.id, client_secret: confidential.secret });
    const anonymous = await poll(flow.device_code, { client_id: confidential.client.id });
    expect(anonymous.status).to.equal(401);
    const authenticated = await poll(flow.device_code, {}, { authorization: basic(confidential.client.id, confidential.secret) });
    expect(authenticated.json.error).to.equal('authorization_pending');
  });

  it('RFC 6749 §5.2: a client not allowed the device grant is unauthorized_client', async () => {
    const flow = await startFlow();
    await db.knex('clients').where({ id: client.id }).update({ grant_types: 'refresh_token' });
    const reply = await poll(flow.device_code);
    expect(reply.json.error).to.equal('unauthorized_client');
  });

  it('RFC 6749 §5.2: error_description is printable ASCII without quote or backslash', async () => {
    const reply = await server.call('POST', '/oauth/token', { form: { grant_type: 'x"\\\u00e9', client_id: client.id } });
    expect(reply.json.error).to.equal('unsupported_grant_type');
    expect(reply.json.error_description).to.match(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
  });
});
