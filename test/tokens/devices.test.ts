import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { BrowserSession, type Reply } from '../support/http';
import { purgeExpired } from '../../src/purge';
import { makePublicClient, startServer, type RunningServer } from '../support/server';
import { bearer, Lifecycle, type Approval, type DeviceClient } from './lifecycle';

const DEVICE_SCOPES = ['profile', 'email', 'devices'];

forEachDatabase('your devices: list and revoke approvals (API and page)', (db) => {
  let server: RunningServer;
  let resourceServer: DeviceClient;
  const life = new Lifecycle(db, () => server);

  before(async () => {
    server = await startServer(db.store);
    resourceServer = await life.resourceServer();
  });
  after(async () => server.close());

  const seconds = (ms: number) => ms / 1000;

  interface TwoDevices {
    tv: Approval;
    radio: Approval;
    browser: BrowserSession;
    /** Clock times (ms) of each approval and each exchange. */
    times: { tvApproved: number; tvExchanged: number; radioApproved: number; radioExchanged: number };
  }

  /** One person approves a TV and a radio (two clients), each asking for 'profile devices'. */
  async function twoDevices(): Promise<TwoDevices> {
    const who = await life.person();
    const tvClient = await life.refreshingClient({ name: 'Living Room TV', allowedScopes: DEVICE_SCOPES });
    const radioClient = await life.refreshingClient({ name: 'Kitchen Radio', allowedScopes: DEVICE_SCOPES });
    const tvApproved = server.clock.ms;
    const tv = await life.approve(tvClient, { person: who, scope: 'profile devices', waitBeforeExchange: 7 });
    const tvExchanged = server.clock.ms;
    server.clock.advance(60);
    const radioApproved = server.clock.ms;
    const radio = await life.approve(radioClient, { person: who, scope: 'profile devices', waitBeforeExchange: 11 });
    const radioExchanged = server.clock.ms;
    return { tv, radio, browser: who.browser, times: { tvApproved, tvExchanged, radioApproved, radioExchanged } };
  }

  const list = (token: string) => server.call('GET', '/api/me/devices', { headers: bearer(token) });
  const remove = (token: string, grantId: string) => server.call('DELETE', `/api/me/devices/${encodeURIComponent(grantId)}`, { headers: bearer(token) });

  async function listed(token: string): Promise<Array<Record<string, unknown>>> {
    const reply = await list(token);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    return reply.json.devices;
  }

  /** Every consumer sees the approval as revoked: the resource, introspection and the token endpoint. */
  async function expectCutOff(approval: Approval): Promise<void> {
    await life.expectAccessRefused(approval.tokens.access_token);
    await life.expectInactive(resourceServer, approval.tokens.access_token);
    await life.expectInactive(resourceServer, approval.tokens.refresh_token!);
    await life.expectRefreshRefused(approval.device, approval.tokens.refresh_token!);
  }

  /** Nothing about the approval changed. */
  async function expectStillConnected(approval: Approval): Promise<void> {
    await life.expectAccessWorks(approval.tokens.access_token, approval);
    expect((await life.introspection(resourceServer, approval.tokens.refresh_token!)).active).to.equal(true);
  }

  function revokeForms(page: Reply): string[] {
    return [...page.text.matchAll(/<input type="hidden" name="grant_id" value="([^"]+)">/g)].map((m) => m[1]!);
  }

  it('GET /api/me/devices lists both approved devices with client_name, scope, approved_at and last_used_at (seconds)', async () => {
    const { tv, radio, times } = await twoDevices();
    const devices = await listed(tv.tokens.access_token);
    expect(devices).to.have.length(2);
    const byGrant = Object.fromEntries(devices.map((d) => [d.grant_id, d]));
    expect(byGrant[tv.grantId]).to.deep.equal({
      grant_id: tv.grantId,
      client_id: tv.device.client.id,
      client_name: 'Living Room TV',
      scope: 'profile devices',
      approved_at: seconds(times.tvApproved),
      last_used_at: seconds(times.tvExchanged),
    });
    expect(byGrant[radio.grantId]).to.deep.equal({
      grant_id: radio.grantId,
      client_id: radio.device.client.id,
      client_name: 'Kitchen Radio',
      scope: 'profile devices',
      approved_at: seconds(times.radioApproved),
      last_used_at: seconds(times.radioExchanged),
    });
    // Either device's token sees the same list: it is the person's, not the client's.
    expect(await listed(radio.tokens.access_token)).to.deep.equal(devices);
  });

  it("GET /api/me/devices lists only this person's devices", async () => {
    const mine = await twoDevices();
    const theirs = await twoDevices();
    const ids = (await listed(mine.tv.tokens.access_token)).map((d) => d.grant_id);
    expect(ids).to.have.members([mine.tv.grantId, mine.radio.grantId]);
    expect(ids).not.to.include(theirs.tv.grantId);
  });

  it('last_used_at is the time of the latest refresh; approved_at does not move', async () => {
    const { tv, radio, times } = await twoDevices();
    server.clock.advance(600);
    const refreshedAt = server.clock.ms;
    const next = await life.refreshed(tv.device, tv.tokens.refresh_token!);
    const devices = await listed(radio.tokens.access_token);
    const entry = devices.find((d) => d.grant_id === tv.grantId)!;
    expect(entry.approved_at).to.equal(seconds(times.tvApproved));
    expect(entry.last_used_at).to.equal(seconds(refreshedAt));
    // The radio was not refreshed.
    expect(devices.find((d) => d.grant_id === radio.grantId)!.last_used_at).to.equal(seconds(times.radioExchanged));
    // The refreshed token lists too.
    expect(await listed(next.access_token)).to.have.length(2);
  });

  it('last_used_at survives the purge of expired access tokens (the newest refresh token keeps it)', async () => {
    const { tv, radio } = await twoDevices();
    server.clock.advance(600);
    const refreshedAt = server.clock.ms;
    await life.refreshed(tv.device, tv.tokens.refresh_token!);
    server.clock.advance(3 * 3600); // every access token has expired, and an hour of grace has passed
    await purgeExpired(db.store, server.clock.ms);
    expect(await db.knex('access_tokens').where({ device_authorization_id: tv.grantId })).to.have.length(0);
    const fresh = await life.refreshed(radio.device, radio.tokens.refresh_token!);
    const entry = (await listed(fresh.access_token)).find((d) => d.grant_id === tv.grantId)!;
    expect(entry.last_used_at).to.equal(seconds(refreshedAt));
  });

  it('an approval whose tokens have all expired leaves the list; one with a live refresh token stays', async () => {
    const who = await life.person();
    // A lamp whose client has no refresh grant: one access token, nothing else.
    const lampClient = await makePublicClient(db.store, { name: 'Desk Lamp', allowedScopes: DEVICE_SCOPES });
    const lamp = await life.approve({ client: lampClient }, { person: who, scope: 'profile devices' });
    expect(lamp.tokens).not.to.have.property('refresh_token');
    const tv = await life.approve(await life.refreshingClient({ name: 'Living Room TV', allowedScopes: DEVICE_SCOPES }), { person: who, scope: 'profile devices' });
    expect((await listed(tv.tokens.access_token)).map((d) => d.grant_id)).to.have.members([lamp.grantId, tv.grantId]);
    server.clock.advance(3600);
    const next = await life.refreshed(tv.device, tv.tokens.refresh_token!);
    expect((await listed(next.access_token)).map((d) => d.grant_id)).to.deep.equal([tv.grantId]);
  });

  it('RFC 6750 §3.1: a token without scope devices is 403 insufficient_scope, for the list and for DELETE', async () => {
    const { tv } = await twoDevices();
    const profileOnly = await life.approve(await life.refreshingClient({ allowedScopes: DEVICE_SCOPES }), { scope: 'profile' });
    const reply = await list(profileOnly.tokens.access_token);
    expect(reply.status, reply.text).to.equal(403);
    expect(reply.json.error).to.equal('insufficient_scope');
    expect(reply.headers.get('www-authenticate')).to.match(/error="insufficient_scope"/);
    expect(reply.headers.get('www-authenticate')).to.match(/scope="devices"/);

    const own = await remove(profileOnly.tokens.access_token, profileOnly.grantId);
    expect(own.status, own.text).to.equal(403);
    expect(own.json.error).to.equal('insufficient_scope');
    await expectStillConnected(profileOnly);
    await expectStillConnected(tv);
  });

  it('RFC 6750 §3.1: no token, or a revoked one, is 401 at /api/me/devices', async () => {
    const { tv } = await twoDevices();
    const none = await server.call('GET', '/api/me/devices');
    expect(none.status).to.equal(401);
    expect(none.headers.get('www-authenticate')).to.match(/^Bearer realm="[^"]+"$/);
    expect((await life.revoke(tv.device, tv.tokens.access_token)).status).to.equal(200);
    const revoked = await list(tv.tokens.access_token);
    expect(revoked.status).to.equal(401);
    expect(revoked.json.error).to.equal('invalid_token');
  });

  it('DELETE /api/me/devices/{grant_id} is 204, and at once the device is cut off everywhere and leaves the list', async () => {
    const { tv, radio } = await twoDevices();
    const reply = await remove(radio.tokens.access_token, tv.grantId);
    expect(reply.status, reply.text).to.equal(204);
    expect(reply.text).to.equal('');
    await expectCutOff(tv);
    expect((await listed(radio.tokens.access_token)).map((d) => d.grant_id)).to.deep.equal([radio.grantId]);
    // The other device is untouched.
    await expectStillConnected(radio);
    // Deleting it again: it is gone.
    const again = await remove(radio.tokens.access_token, tv.grantId);
    expect(again.status).to.equal(404);
    expect(again.json.error).to.equal('not_found');
  });

  it('DELETE /api/me/devices/{grant_id} revokes the tokens rotated in by refreshes as well', async () => {
    const { tv, radio } = await twoDevices();
    const next = await life.refreshed(tv.device, tv.tokens.refresh_token!);
    expect((await remove(radio.tokens.access_token, tv.grantId)).status).to.equal(204);
    await life.expectAccessRefused(next.access_token);
    await life.expectInactive(resourceServer, next.refresh_token!);
    await life.expectRefreshRefused(tv.device, next.refresh_token!);
  });

  it('a device may cut itself off with its own token', async () => {
    const { tv, radio } = await twoDevices();
    expect((await remove(tv.tokens.access_token, tv.grantId)).status).to.equal(204);
    await expectCutOff(tv);
    await expectStillConnected(radio);
  });

  it("DELETE of another person's grant is 404 and revokes nothing; an unknown grant is 404", async () => {
    const mine = await twoDevices();
    const theirs = await twoDevices();
    const reply = await remove(mine.tv.tokens.access_token, theirs.tv.grantId);
    expect(reply.status, reply.text).to.equal(404);
    expect(reply.json.error).to.equal('not_found');
    await expectStillConnected(theirs.tv);
    expect(await listed(theirs.radio.tokens.access_token)).to.have.length(2);

    const unknown = await remove(mine.tv.tokens.access_token, 'no-such-grant');
    expect(unknown.status).to.equal(404);
    await expectStillConnected(mine.tv);
  });

  it('GET /account/devices (signed in) lists the devices, each with a Revoke button', async () => {
    const { tv, radio, browser } = await twoDevices();
    const page = await browser.get('/account/devices');
    expect(page.status, page.text).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    expect(page.text).to.contain('Living Room TV');
    expect(page.text).to.contain('Kitchen Radio');
    expect(page.text).to.contain('(profile devices)');
    expect(revokeForms(page)).to.have.members([tv.grantId, radio.grantId]);
    expect(page.text).to.match(/<form method="post" action="\/account\/devices">/);
    BrowserSession.csrf(page); // the forms carry a CSRF token
  });

  it("GET /account/devices does not list another person's devices", async () => {
    const mine = await twoDevices();
    const theirs = await twoDevices();
    const page = await mine.browser.get('/account/devices');
    expect(page.status).to.equal(200);
    const forms = revokeForms(page);
    expect(forms).to.have.members([mine.tv.grantId, mine.radio.grantId]);
    expect(forms).not.to.include(theirs.tv.grantId);
  });

  it('GET /account/devices escapes client names', async () => {
    const who = await life.person();
    const evil = await life.refreshingClient({ name: '<img src=x onerror=alert(1)>', allowedScopes: DEVICE_SCOPES });
    await life.approve(evil, { person: who, scope: 'profile' });
    const page = await who.browser.get('/account/devices');
    expect(page.status).to.equal(200);
    expect(page.text).not.to.contain('<img src=x');
    expect(page.text).to.contain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('the Revoke button (POST /account/devices with csrf_token and grant_id) revokes: seen by /api/me, introspection and refresh', async () => {
    const { tv, radio, browser } = await twoDevices();
    const page = await browser.get('/account/devices');
    const reply = await browser.post('/account/devices', { csrf_token: BrowserSession.csrf(page), grant_id: tv.grantId });
    expect(reply.status, reply.text).to.equal(303);
    expect(reply.headers.get('location')).to.equal('/account/devices');
    await expectCutOff(tv);
    await expectStillConnected(radio);
    const after = await browser.get('/account/devices');
    expect(after.status).to.equal(200);
    expect(revokeForms(after)).to.deep.equal([radio.grantId]);
    expect(after.text).not.to.contain('Living Room TV');
    expect((await listed(radio.tokens.access_token)).map((d) => d.grant_id)).to.deep.equal([radio.grantId]);
  });

  it('GET /account/devices when not signed in is 303 to /signin, coming back to the page', async () => {
    const stranger = new BrowserSession(server.url);
    const reply = await stranger.get('/account/devices');
    expect(reply.status).to.equal(303);
    expect(reply.headers.get('location')).to.equal('/signin?return_to=%2Faccount%2Fdevices');
  });

  it('a Revoke form without a valid CSRF token is 403 and revokes nothing', async () => {
    const { tv, browser } = await twoDevices();
    const page = await browser.get('/account/devices');
    const good = BrowserSession.csrf(page);
    // A token that is not this browser's: from another browser's page.
    const other = new BrowserSession(server.url);
    const foreign = BrowserSession.csrf(await other.get('/signin'));
    for (const csrf of ['forged', foreign, `${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`]) {
      const reply = await browser.post('/account/devices', { csrf_token: csrf, grant_id: tv.grantId });
      expect(reply.status, `${csrf}: ${reply.text}`).to.equal(403);
      expect(reply.headers.get('content-type')).to.match(/^text\/html/);
    }
    await expectStillConnected(tv);
    expect(revokeForms(await browser.get('/account/devices'))).to.include(tv.grantId);
  });

  it("a Revoke form for another person's grant is 404 and revokes nothing", async () => {
    const mine = await twoDevices();
    const theirs = await twoDevices();
    const page = await mine.browser.get('/account/devices');
    const reply = await mine.browser.post('/account/devices', { csrf_token: BrowserSession.csrf(page), grant_id: theirs.tv.grantId });
    expect(reply.status, reply.text).to.equal(404);
    await expectStillConnected(theirs.tv);
  });
});
