/**
 * Prometheus metrics at GET /metrics: every counter moves by exactly what a flow did, the
 * approval-time and request-duration histograms move, the database pool gauges are there, and
 * the optional metrics token is enforced. Real server, real database, real HTTP.
 */
import { expect } from 'chai';
import { BrowserSession } from '../support/http';
import { forEachDatabase } from '../support/databases';
import { DEVICE_GRANT, makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { poll, startFlow, type Flow } from '../activation/flow';
import { REFRESH_GRANT } from '../tokens/lifecycle';
import { delta, scrape } from './scrape';
import { deviceCodeKey } from '../../src/helpers/secrets';
import { DEFAULT_POOL_SIZE } from '../../src/storage/database';

const MAX_FAILURES = 3;

forEachDatabase('metrics (GET /metrics)', (db) => {
  let server: RunningServer;

  before(async () => {
    // Lockouts with the real rule, but after 3 wrong codes and without back-off waits.
    server = await startServer(db.store, { userCodeMaxFailures: MAX_FAILURES, attemptBackoff: 0, guessCeilingBits: 0 });
  });
  after(async () => server?.close());

  async function signedIn(): Promise<BrowserSession> {
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    return browser;
  }

  /** A poll without waiting the interval first. */
  const pollNow = (flow: Flow) =>
    server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: flow.client.id, device_code: flow.deviceCode } });

  it('counters move by exactly what a flow did: started, slow_down, approved, consumed, issued, refreshed, revoked, denied, expired (once), lockouts; histograms move', async () => {
    const before = await scrape(server);

    // Approved, with a slow_down on the way, then refreshed and revoked.
    const approvedFlow = await startFlow(server, db.store, { client: { grantTypes: [DEVICE_GRANT, REFRESH_GRANT] } });
    expect((await poll(server, approvedFlow)).json.error).to.equal('authorization_pending');
    const tooSoon = await pollNow(approvedFlow);
    expect(tooSoon.json.error).to.equal('slow_down');
    const person = await signedIn();
    expect((await person.decide(approvedFlow.userCode, 'approve')).status).to.equal(200);
    server.clock.advance(10); // the interval grew to 10 s
    const tokens = await poll(server, approvedFlow);
    expect(tokens.status, tokens.text).to.equal(200);
    const refreshed = await server.call('POST', '/oauth/token', {
      form: { grant_type: REFRESH_GRANT, client_id: approvedFlow.client.id, refresh_token: tokens.json.refresh_token },
    });
    expect(refreshed.status, refreshed.text).to.equal(200);
    const revoked = await server.call('POST', '/oauth/revoke', { form: { client_id: approvedFlow.client.id, token: refreshed.json.refresh_token } });
    expect(revoked.status).to.equal(200);

    // Denied.
    const deniedFlow = await startFlow(server, db.store);
    expect((await person.decide(deniedFlow.userCode, 'deny')).status).to.equal(200);
    expect((await poll(server, deniedFlow)).json.error).to.equal('access_denied');

    // Expired: found by two polls, counted once.
    const expiredFlow = await startFlow(server, db.store);
    server.clock.advance(901);
    expect((await poll(server, expiredFlow)).json.error).to.equal('expired_token');
    expect((await poll(server, expiredFlow)).json.error).to.equal('expired_token');

    // Locked out: the 3rd wrong code locks this account and this address; the 4th is refused.
    const guesser = await signedIn();
    for (let i = 0; i < MAX_FAILURES; i++) expect((await guesser.decide('BCDF-GHJK', 'approve')).status).to.equal(404);
    expect((await guesser.decide('BCDF-GHJK', 'approve')).status).to.equal(429);

    const after = await scrape(server);
    const counts = {
      started: delta(before, after, 'oauth2_device_authorizations_started_total'),
      approved: delta(before, after, 'oauth2_device_authorizations_approved_total'),
      denied: delta(before, after, 'oauth2_device_authorizations_denied_total'),
      expired: delta(before, after, 'oauth2_device_authorizations_expired_total'),
      consumed: delta(before, after, 'oauth2_device_authorizations_consumed_total'),
      issuedByDeviceCode: delta(before, after, 'oauth2_tokens_issued_total{grant_type="device_code"}'),
      issuedByRefresh: delta(before, after, 'oauth2_tokens_issued_total{grant_type="refresh_token"}'),
      refreshed: delta(before, after, 'oauth2_tokens_refreshed_total'),
      revokedByClient: delta(before, after, 'oauth2_tokens_revoked_total{what="grant",reason="client_request"}'),
      slowDown: delta(before, after, 'oauth2_slow_down_total'),
      lockoutsIp: delta(before, after, 'oauth2_user_code_lockouts_total{subject="ip"}'),
      lockoutsAccount: delta(before, after, 'oauth2_user_code_lockouts_total{subject="account"}'),
    };
    expect(counts).to.deep.equal({
      started: 3,
      approved: 1,
      denied: 1,
      expired: 1,
      consumed: 1,
      issuedByDeviceCode: 1,
      issuedByRefresh: 1,
      refreshed: 1,
      revokedByClient: 1,
      slowDown: 1,
      lockoutsIp: 1,
      lockoutsAccount: 1,
    });

    // Approved 5 s after the request (one poll interval on the test clock).
    expect(delta(before, after, 'oauth2_approval_duration_seconds_count')).to.equal(1);
    expect(delta(before, after, 'oauth2_approval_duration_seconds_sum')).to.equal(5);
    expect(delta(before, after, 'oauth2_approval_duration_seconds_bucket{le="5"}')).to.equal(1);
    expect(delta(before, after, 'oauth2_approval_duration_seconds_bucket{le="+Inf"}')).to.equal(1);

    // Request durations, by operation and status.
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_count{operation="deviceAuthorization",status="200"}')).to.equal(3);
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_count{operation="token",status="200"}')).to.equal(2);
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_count{operation="token",status="400"}')).to.equal(5);
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_count{operation="decideAuthorization",status="200"}')).to.equal(2);
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_count{operation="submitUserCode",status="429"}')).to.equal(1);
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_count{operation="getMetrics",status="200"}')).to.equal(1);
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_sum{operation="token",status="200"}')).to.be.greaterThan(0);
  });

  it('the database pool gauges and the process metrics are there', async () => {
    const now = await scrape(server);
    for (const state of ['used', 'free', 'pending']) {
      expect(now.get(`oauth2_db_pool_connections{state="${state}"}`), state).to.be.a('number').and.at.least(0);
    }
    expect(now.get('oauth2_db_pool_size')).to.equal(db.kind === 'sqlite' ? 1 : DEFAULT_POOL_SIZE);
    expect(now.get('process_resident_memory_bytes')).to.be.greaterThan(0);
    expect([...now.keys()].some((k) => k.startsWith('nodejs_eventloop_lag'))).to.equal(true);
  });

  it('one unknown path is counted under operation "none"', async () => {
    const before = await scrape(server);
    expect((await server.call('GET', '/no/such/thing')).status).to.equal(404);
    const after = await scrape(server);
    expect(delta(before, after, 'oauth2_http_request_duration_seconds_count{operation="none",status="404"}')).to.equal(1);
  });
});

forEachDatabase('metrics behind a token (OAUTH2_METRICS_TOKEN)', (db) => {
  const TOKEN = 'metrics-token-for-tests-0123456789';
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { metricsToken: TOKEN });
    await makePublicClient(db.store);
  });
  after(async () => server?.close());

  it('without the token, or with another, /metrics is 401 with a Bearer challenge; with it, 200', async () => {
    for (const headers of [{} as Record<string, string>, { authorization: 'Bearer wrong-token-0123456789abcdef' }, { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }]) {
      const refused = await server.call('GET', '/metrics', { headers });
      expect(refused.status).to.equal(401);
      expect(refused.headers.get('www-authenticate')).to.match(/^Bearer realm="metrics", error="invalid_token"/);
      expect(refused.json.error).to.equal('invalid_token');
      expect(refused.text).not.to.include('oauth2_');
    }
    const scraped = await scrape(server, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(scraped.has('oauth2_device_authorizations_started_total')).to.equal(true);
  });
});

forEachDatabase('expiry is noted once per flow, across processes', (db) => {
  it('20 concurrent noteExpired calls from two connection pools (two processes): exactly one wins; consumed, denied and unexpired flows are never noted', async () => {
    const other = db.openAnother();
    try {
      const server = await startServer(db.store);
      const flows = await Promise.all([startFlow(server, db.store), startFlow(server, db.store)]);
      await server.close();
      const rows = await Promise.all(flows.map((f) => db.knex('device_authorizations').where({ device_code_hash: deviceCodeKey(f.deviceCode) }).first()));
      const [expiring, fresh] = rows.map((r) => String(r.id)) as [string, string];
      const expiresAt = Number(rows[0].expires_at);
      expect(await db.store.noteExpired(fresh, expiresAt - 1), 'not yet expired').to.equal(false);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? db.store : other).noteExpired(expiring, expiresAt + i)));
      expect(results.filter(Boolean)).to.have.length(1);
      await db.knex('device_authorizations').where({ id: fresh }).update({ status: 'denied' });
      expect(await db.store.noteExpired(fresh, expiresAt + 1), 'denied').to.equal(false);
      await db.knex('device_authorizations').where({ id: fresh }).update({ status: 'consumed' });
      expect(await db.store.noteExpired(fresh, expiresAt + 1), 'consumed').to.equal(false);
    } finally {
      await other.close();
    }
  });
});
