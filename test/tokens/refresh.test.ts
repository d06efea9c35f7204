import { expect } from 'chai';
import { sha256 } from '../../src/helpers/secrets';
import { forEachDatabase } from '../support/databases';
import { DEVICE_GRANT, makeConfidentialClient, makePublicClient, startServer, type RunningServer } from '../support/server';
import { ACCESS_TOKEN_LIFETIME, Lifecycle, REFRESH_TOKEN_LIFETIME, type DeviceClient } from './lifecycle';

// The prefix, the time of issue in ms (12 hex characters), 256 random bits (43 base64url).
const REFRESH_TOKEN_FORMAT = /^o2d_rt_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/;
const ACCESS_TOKEN_FORMAT = /^o2d_at_[0-9a-f]{12}[A-Za-z0-9_-]{43}$/;

forEachDatabase('refresh token grant (RFC 6749 §6, RFC 9700 §4.14)', (db) => {
  let server: RunningServer;
  let resourceServer: DeviceClient;
  const life = new Lifecycle(db, () => server);

  before(async () => {
    server = await startServer(db.store);
    resourceServer = await life.resourceServer();
  });
  after(async () => server.close());

  it('RFC 6749 §5.1: a client allowed refresh_token gets a refresh token (o2d_rt_) with its device-flow token', async () => {
    const { tokens } = await life.approve(await life.refreshingClient());
    expect(tokens.access_token).to.match(ACCESS_TOKEN_FORMAT);
    expect(tokens.refresh_token).to.match(REFRESH_TOKEN_FORMAT);
    expect(tokens.refresh_token).not.to.equal(tokens.access_token);
    expect(tokens.token_type).to.equal('Bearer');
    expect(tokens.expires_in).to.equal(ACCESS_TOKEN_LIFETIME);
  });

  it('both tokens are stored by a key led by the time they were issued (tokenKey), so new keys sort after old ones', async () => {
    const { tokens } = await life.approve(await life.refreshingClient());
    const issuedAt = server.clock.now().toString(16).padStart(12, '0');
    for (const [table, token] of [['access_tokens', tokens.access_token], ['refresh_tokens', tokens.refresh_token!]] as const) {
      expect(token.slice(7, 19), `${table}: the time in the token`).to.equal(issuedAt);
      const row = await db.knex(table).where({ token_hash: issuedAt + sha256(token).slice(0, 52) }).first();
      expect(row, `${table}: stored by the time and 52 characters of the SHA-256`).to.exist;
    }
  });

  it('rolling upgrade: tokens of a release before timed tokens (timedTokens off) carry no time, are stored by their whole SHA-256 and keep working here', async () => {
    const older = await startServer(db.store, { timedTokens: false, clock: server.clock.now });
    try {
      const approval = await new Lifecycle(db, () => older).approve(await life.refreshingClient());
      const access = approval.tokens.access_token;
      const refresh = approval.tokens.refresh_token!;
      expect(access).to.match(/^o2d_at_[A-Za-z0-9_-]{43}$/);
      expect(refresh).to.match(/^o2d_rt_[A-Za-z0-9_-]{43}$/);
      expect(await db.knex('access_tokens').where({ token_hash: sha256(access) }).first(), 'as an older release looks it up').to.exist;
      expect(await db.knex('refresh_tokens').where({ token_hash: sha256(refresh) }).first(), 'as an older release looks it up').to.exist;
      // Presented to this release: the resource, introspection, a refresh, a revocation.
      await life.expectAccessWorks(access, approval);
      expect((await life.introspection(resourceServer, refresh)).active).to.equal(true);
      const next = await life.refreshed(approval.device, refresh);
      expect(next.refresh_token).to.match(REFRESH_TOKEN_FORMAT);
      expect((await life.revoke(approval.device, access)).status).to.equal(200);
      await life.expectAccessRefused(access);
    } finally {
      await older.close();
    }
  });

  it('RFC 6749 §5.1: a client not allowed refresh_token gets no refresh token', async () => {
    const device: DeviceClient = { client: await makePublicClient(db.store) };
    expect(device.client.grantTypes).to.deep.equal([DEVICE_GRANT]);
    const { tokens } = await life.approve(device);
    expect(tokens.access_token).to.match(ACCESS_TOKEN_FORMAT);
    expect(tokens).not.to.have.property('refresh_token');
    expect(await db.knex('refresh_tokens').where({ client_id: device.client.id })).to.have.length(0);
  });

  it('RFC 6749 §6: a refresh returns a new access token and a new refresh token (rotation), both working', async () => {
    const approval = await life.approve(await life.refreshingClient(), { scope: 'profile email' });
    server.clock.advance(60);
    const reply = await life.refresh(approval.device, approval.tokens.refresh_token!);
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    expect(reply.headers.get('pragma')).to.equal('no-cache');
    const next = reply.json;
    expect(next.token_type).to.equal('Bearer');
    expect(next.expires_in).to.equal(ACCESS_TOKEN_LIFETIME);
    expect(next.scope).to.equal('profile email');
    expect(next.access_token).to.match(ACCESS_TOKEN_FORMAT);
    expect(next.refresh_token).to.match(REFRESH_TOKEN_FORMAT);
    expect(next.access_token).not.to.equal(approval.tokens.access_token);
    expect(next.refresh_token).not.to.equal(approval.tokens.refresh_token);

    await life.expectAccessWorks(next.access_token, approval);
    const info = await life.introspection(resourceServer, next.refresh_token);
    expect(info.active).to.equal(true);
    expect(info.token_type).to.equal('refresh_token');
    // The new refresh token has a full lifetime from the refresh.
    expect(info.iat).to.equal(server.clock.ms / 1000);
    expect(info.exp).to.equal(server.clock.ms / 1000 + REFRESH_TOKEN_LIFETIME);
    // And it can itself be refreshed.
    server.clock.advance(60);
    const third = await life.refreshed(approval.device, next.refresh_token);
    await life.expectAccessWorks(third.access_token, approval);
  });

  it('RFC 9700 §4.14: the rotated-out refresh token is no longer active (introspection)', async () => {
    const approval = await life.approve(await life.refreshingClient());
    await life.refreshed(approval.device, approval.tokens.refresh_token!);
    // Introspection does not count as presenting it to the token endpoint.
    await life.expectInactive(resourceServer, approval.tokens.refresh_token!);
  });

  it('RFC 6749 §6: the old access token still works after a refresh, until it expires', async () => {
    const approval = await life.approve(await life.refreshingClient());
    server.clock.advance(100);
    const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
    await life.expectAccessWorks(approval.tokens.access_token, approval);
    // One second before the old token's expiry it still works...
    server.clock.advance(ACCESS_TOKEN_LIFETIME - 100 - 1);
    await life.expectAccessWorks(approval.tokens.access_token, approval);
    // ...at its expiry it does not; the new one (issued 100 s later) still does.
    server.clock.advance(1);
    await life.expectAccessRefused(approval.tokens.access_token);
    await life.expectAccessWorks(next.access_token, approval);
  });

  it('RFC 9700 §4.14: presenting a rotated refresh token again is invalid_grant and revokes every token of that approval', async () => {
    const approval = await life.approve(await life.refreshingClient(), { scope: 'profile email' });
    const first = approval.tokens;
    server.clock.advance(10);
    const second = await life.refreshed(approval.device, first.refresh_token!);
    server.clock.advance(10);
    const third = await life.refreshed(approval.device, second.refresh_token!);
    await life.expectAccessWorks(third.access_token, approval);

    // The attacker (or the legitimate device, after the attacker) presents an old one.
    server.clock.advance(10);
    const reuse = await life.refresh(approval.device, first.refresh_token!);
    expect(reuse.status, reuse.text).to.equal(400);
    expect(reuse.json.error).to.equal('invalid_grant');

    // Every access token of the approval is dead at the resource...
    for (const access of [first.access_token, second.access_token, third.access_token]) await life.expectAccessRefused(access);
    // ...and for introspection, refresh tokens included.
    for (const token of [first.access_token, second.access_token, third.access_token, first.refresh_token!, second.refresh_token!, third.refresh_token!]) {
      await life.expectInactive(resourceServer, token);
    }
    // The newest refresh token, never used, is refused too.
    await life.expectRefreshRefused(approval.device, third.refresh_token!);
    // The approval itself is marked revoked.
    const row = await db.knex('device_authorizations').where({ id: approval.grantId }).first();
    expect(Number(row.revoked_at)).to.equal(server.clock.ms);
  });

  it('RFC 9700 §4.14: reuse of a rotated refresh token leaves other approvals of the same person alone', async () => {
    const device = await life.refreshingClient();
    const who = await life.person();
    const victim = await life.approve(device, { person: who });
    const bystander = await life.approve(device, { person: who });
    await life.refreshed(device, victim.tokens.refresh_token!);
    await life.expectRefreshRefused(device, victim.tokens.refresh_token!);
    await life.expectAccessRefused(victim.tokens.access_token);
    await life.expectAccessWorks(bystander.tokens.access_token, bystander);
    const again = await life.refreshed(device, bystander.tokens.refresh_token!);
    await life.expectAccessWorks(again.access_token, bystander);
  });

  it('RFC 6749 §6: scope may narrow (scope=profile of "profile email"), and a later refresh without scope gets the full grant back', async () => {
    const approval = await life.approve(await life.refreshingClient(), { scope: 'profile email' });
    expect(approval.tokens.scope).to.equal('profile email');

    const narrow = await life.refreshed(approval.device, approval.tokens.refresh_token!, { scope: 'profile' });
    expect(narrow.scope).to.equal('profile');
    const me = await life.me(narrow.access_token);
    expect(me.status).to.equal(200);
    expect(me.json.scope).to.equal('profile');
    expect(me.json).not.to.have.property('email');
    const info = await life.introspection(resourceServer, narrow.access_token);
    expect(info.scope).to.equal('profile');
    // The refresh token keeps the whole grant's scope.
    expect((await life.introspection(resourceServer, narrow.refresh_token!)).scope).to.equal('profile email');

    const full = await life.refreshed(approval.device, narrow.refresh_token!);
    expect(full.scope).to.equal('profile email');
    const meFull = await life.me(full.access_token);
    expect(meFull.json.scope).to.equal('profile email');
    expect(meFull.json.email).to.equal(approval.person.email);
  });

  it('RFC 6749 §6: scope may never widen: a scope not granted is invalid_scope, and the refresh token stays usable', async () => {
    // The client may ask for email, but this approval did not grant it.
    const approval = await life.approve(await life.refreshingClient(), { scope: 'profile' });
    const wider = await life.refresh(approval.device, approval.tokens.refresh_token!, { scope: 'profile email' });
    expect(wider.status, wider.text).to.equal(400);
    expect(wider.json.error).to.equal('invalid_scope');
    expect(wider.json.error_description).to.contain('email');

    const unknown = await life.refresh(approval.device, approval.tokens.refresh_token!, { scope: 'admin' });
    expect(unknown.status).to.equal(400);
    expect(unknown.json.error).to.equal('invalid_scope');

    // A refused request does not rotate (or burn) the refresh token.
    const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
    expect(next.scope).to.equal('profile');
    await life.expectAccessWorks(next.access_token, approval);
  });

  it("RFC 6749 §5.2: another client's refresh token is invalid_grant (and stays usable by its own client)", async () => {
    const approval = await life.approve(await life.refreshingClient());
    const thief = await life.refreshingClient();
    const reply = await life.refresh(thief, approval.tokens.refresh_token!);
    expect(reply.status, reply.text).to.equal(400);
    expect(reply.json.error).to.equal('invalid_grant');
    await life.expectAccessWorks(approval.tokens.access_token, approval);
    const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
    await life.expectAccessWorks(next.access_token, approval);
  });

  it('RFC 6749 §5.2: an unknown refresh token is invalid_grant', async () => {
    const device = await life.refreshingClient();
    const reply = await life.refresh(device, 'o2d_rt_not-a-real-refresh-token');
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_grant');
  });

  it('RFC 6749 §5.2: an expired refresh token (30 days) is invalid_grant; one second before, it still works', async () => {
    const device = await life.refreshingClient();
    const who = await life.person();
    const early = await life.approve(device, { person: who });
    const late = await life.approve(device, { person: who });
    server.clock.advance(REFRESH_TOKEN_LIFETIME - 1);
    const stillFine = await life.refreshed(device, early.tokens.refresh_token!);
    await life.expectAccessWorks(stillFine.access_token, early);
    server.clock.advance(2);
    const reply = await life.refresh(device, late.tokens.refresh_token!);
    expect(reply.status, reply.text).to.equal(400);
    expect(reply.json.error).to.equal('invalid_grant');
    await life.expectInactive(resourceServer, late.tokens.refresh_token!);
  });

  it('RFC 6749 §5.2: a refresh request without refresh_token is invalid_request naming it', async () => {
    const device = await life.refreshingClient();
    const reply = await life.refresh(device, undefined);
    expect(reply.status, reply.text).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.contain('refresh_token');
  });

  it('RFC 9700 §4.14: racing refreshes with one refresh token: exactly one of 10 succeeds, and racing reuse counts as reuse (the approval is revoked)', async () => {
    const approval = await life.approve(await life.refreshingClient());
    const replies = await Promise.all(Array.from({ length: 10 }, () => life.refresh(approval.device, approval.tokens.refresh_token!)));
    const won = replies.filter((r) => r.status === 200);
    const lost = replies.filter((r) => r.status !== 200);
    expect(won, replies.map((r) => `${r.status} ${r.text}`).join('\n')).to.have.length(1);
    expect(lost).to.have.length(9);
    for (const r of lost) {
      expect(r.status).to.equal(400);
      expect(r.json.error).to.equal('invalid_grant');
    }
    const winner = won[0]!.json;
    // The losers were reuse: the winner's tokens are revoked along with the rest.
    await life.expectAccessRefused(winner.access_token);
    await life.expectAccessRefused(approval.tokens.access_token);
    await life.expectInactive(resourceServer, winner.access_token);
    await life.expectInactive(resourceServer, winner.refresh_token);
    await life.expectRefreshRefused(approval.device, winner.refresh_token);
    expect(await db.knex('refresh_tokens').where({ device_authorization_id: approval.grantId })).to.have.length(2);
    expect(await db.knex('refresh_tokens').where({ device_authorization_id: approval.grantId }).whereNull('revoked_at')).to.have.length(0);
    expect(await db.knex('access_tokens').where({ device_authorization_id: approval.grantId }).whereNull('revoked_at')).to.have.length(0);
  });

  it('RFC 6749 §5.2: a client not allowed the refresh_token grant is unauthorized_client', async () => {
    // Registered without it from the start, with any token at all.
    const plain: DeviceClient = { client: await makePublicClient(db.store) };
    const refused = await life.refresh(plain, 'o2d_rt_whatever');
    expect(refused.status, refused.text).to.equal(400);
    expect(refused.json.error).to.equal('unauthorized_client');

    // Allowed once, then the grant was taken away: its refresh token no longer helps it.
    const device = await life.refreshingClient();
    const approval = await life.approve(device);
    await db.store.saveClient({ ...device.client, grantTypes: [DEVICE_GRANT] }, server.clock.ms);
    const reply = await life.refresh(device, approval.tokens.refresh_token!);
    expect(reply.status, reply.text).to.equal(400);
    expect(reply.json.error).to.equal('unauthorized_client');
  });

  it('RFC 6749 §4.1.2: replaying the device code after the exchange revokes the refresh token too', async () => {
    const approval = await life.approve(await life.refreshingClient());
    server.clock.advance(5);
    const replay = await life.pollDeviceCode(approval.device, approval.deviceCode);
    expect(replay.status, replay.text).to.equal(400);
    expect(replay.json.error).to.equal('invalid_grant');
    await life.expectAccessRefused(approval.tokens.access_token);
    await life.expectInactive(resourceServer, approval.tokens.refresh_token!);
    await life.expectRefreshRefused(approval.device, approval.tokens.refresh_token!);
  });

  it('RFC 6749 §4.1.2: replaying the device code after a refresh revokes the rotated-in tokens too', async () => {
    const approval = await life.approve(await life.refreshingClient());
    const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
    server.clock.advance(5);
    const replay = await life.pollDeviceCode(approval.device, approval.deviceCode);
    expect(replay.json.error).to.equal('invalid_grant');
    await life.expectAccessRefused(next.access_token);
    await life.expectRefreshRefused(approval.device, next.refresh_token!);
  });

  it('RFC 6749 §6: a confidential client must authenticate to refresh; a failed authentication does not burn the refresh token', async () => {
    const { client, secret } = await makeConfidentialClient(db.store, { grantTypes: [DEVICE_GRANT, 'refresh_token'] });
    const device: DeviceClient = { client, secret };
    const approval = await life.approve(device);
    expect(approval.tokens.refresh_token).to.match(REFRESH_TOKEN_FORMAT);

    const wrong = await life.refresh({ client, secret: 'o2d_cs_not-the-secret' }, approval.tokens.refresh_token!);
    expect(wrong.status, wrong.text).to.equal(401);
    expect(wrong.json.error).to.equal('invalid_client');
    expect(wrong.headers.get('www-authenticate')).to.match(/^Basic realm="[^"]+"/);
    const none = await life.refresh({ client }, approval.tokens.refresh_token!);
    expect(none.status, none.text).to.equal(401);
    expect(none.json.error).to.equal('invalid_client');

    const next = await life.refreshed(device, approval.tokens.refresh_token!);
    await life.expectAccessWorks(next.access_token, approval);
  });

  it("RFC 6749 §6: a disabled person's refresh token is invalid_grant", async () => {
    const approval = await life.approve(await life.refreshingClient());
    await db.store.saveUser({ ...approval.person, disabled: true }, server.clock.ms);
    const reply = await life.refresh(approval.device, approval.tokens.refresh_token!);
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_grant');
  });
});
