import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { basic } from '../support/http';
import { makeConfidentialClient, makePublicClient, startServer, type RunningServer } from '../support/server';
import { ACCESS_TOKEN_LIFETIME, Lifecycle, REFRESH_TOKEN_LIFETIME, type DeviceClient } from './lifecycle';

forEachDatabase('token introspection (RFC 7662)', (db) => {
  let server: RunningServer;
  let resourceServer: DeviceClient;
  const life = new Lifecycle(db, () => server);

  before(async () => {
    server = await startServer(db.store);
    resourceServer = await life.resourceServer();
    expect(resourceServer.client.canIntrospect).to.equal(true);
  });
  after(async () => server.close());

  const seconds = () => server.clock.ms / 1000;

  it('RFC 7662 §2.2: an active access token: active, scope, client_id, username, sub, token_type Bearer, exp and iat', async () => {
    const approval = await life.approve(await life.refreshingClient(), { scope: 'profile email' });
    const issuedAt = seconds();
    server.clock.advance(120);
    const info = await life.introspection(resourceServer, approval.tokens.access_token);
    expect(info.active).to.equal(true);
    expect(info.scope).to.equal('profile email');
    expect(info.client_id).to.equal(approval.device.client.id);
    expect(info.username).to.equal(approval.person.username);
    expect(info.sub).to.equal(approval.person.id);
    expect(info.token_type).to.equal('Bearer');
    expect(info.iat).to.equal(issuedAt);
    expect(info.exp).to.equal(issuedAt + ACCESS_TOKEN_LIFETIME);
    expect((info.exp as number) - (info.iat as number)).to.equal(3600);
    expect(info.iss).to.equal(server.url);
    const row = await db.knex('access_tokens').where({ device_authorization_id: approval.grantId }).first();
    expect(info.jti).to.equal(row.id);
  });

  it('RFC 7662 §2.2: an active access token introspected with either hint gives the same answer', async () => {
    const approval = await life.approve(await life.refreshingClient());
    const plain = await life.introspection(resourceServer, approval.tokens.access_token);
    expect(await life.introspection(resourceServer, approval.tokens.access_token, 'access_token')).to.deep.equal(plain);
    expect(await life.introspection(resourceServer, approval.tokens.access_token, 'refresh_token')).to.deep.equal(plain);
    expect(plain.token_type).to.equal('Bearer');
  });

  it('RFC 7662 §2.2: an active refresh token has token_type refresh_token and the refresh lifetime', async () => {
    const approval = await life.approve(await life.refreshingClient(), { scope: 'profile email' });
    const info = await life.introspection(resourceServer, approval.tokens.refresh_token!, 'refresh_token');
    expect(info.active).to.equal(true);
    expect(info.token_type).to.equal('refresh_token');
    expect(info.scope).to.equal('profile email');
    expect(info.client_id).to.equal(approval.device.client.id);
    expect(info.username).to.equal(approval.person.username);
    expect(info.sub).to.equal(approval.person.id);
    expect(info.iat).to.equal(seconds());
    expect(info.exp).to.equal(seconds() + REFRESH_TOKEN_LIFETIME);
    // The wrong hint finds it as well.
    expect(await life.introspection(resourceServer, approval.tokens.refresh_token!, 'access_token')).to.deep.equal(info);
  });

  it('RFC 7662 §2.2: an unknown token is {"active": false} and nothing else', async () => {
    await life.expectInactive(resourceServer, 'o2d_at_never-issued-never-issued-never-issued');
    await life.expectInactive(resourceServer, 'not even a token');
  });

  it('RFC 7662 §2.2: an expired access token is {"active": false} and nothing else (active one second before)', async () => {
    const approval = await life.approve(await life.refreshingClient());
    server.clock.advance(ACCESS_TOKEN_LIFETIME - 1);
    expect((await life.introspection(resourceServer, approval.tokens.access_token)).active).to.equal(true);
    server.clock.advance(1);
    await life.expectInactive(resourceServer, approval.tokens.access_token);
    // The refresh token lives on.
    expect((await life.introspection(resourceServer, approval.tokens.refresh_token!)).active).to.equal(true);
  });

  it('RFC 7662 §2.2: an expired refresh token is {"active": false} and nothing else', async () => {
    const approval = await life.approve(await life.refreshingClient());
    server.clock.advance(REFRESH_TOKEN_LIFETIME);
    await life.expectInactive(resourceServer, approval.tokens.refresh_token!);
  });

  it('RFC 7662 §2.2: revoked access and refresh tokens are {"active": false} and nothing else', async () => {
    const one = await life.approve(await life.refreshingClient());
    expect((await life.revoke(one.device, one.tokens.access_token)).status).to.equal(200);
    await life.expectInactive(resourceServer, one.tokens.access_token);

    const two = await life.approve(await life.refreshingClient());
    expect((await life.revoke(two.device, two.tokens.refresh_token!)).status).to.equal(200);
    await life.expectInactive(resourceServer, two.tokens.refresh_token!);
    await life.expectInactive(resourceServer, two.tokens.access_token);
  });

  it('RFC 7662 §2.2: a rotated refresh token is {"active": false}; its successor is active', async () => {
    const approval = await life.approve(await life.refreshingClient());
    const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
    await life.expectInactive(resourceServer, approval.tokens.refresh_token!);
    expect((await life.introspection(resourceServer, next.refresh_token!)).active).to.equal(true);
    // The access token issued before the rotation is still active until it expires.
    expect((await life.introspection(resourceServer, approval.tokens.access_token)).active).to.equal(true);
  });

  it("RFC 7662 §2.2: a disabled person's tokens are {\"active\": false} and nothing else", async () => {
    const approval = await life.approve(await life.refreshingClient());
    expect((await life.introspection(resourceServer, approval.tokens.access_token)).active).to.equal(true);
    await db.store.saveUser({ ...approval.person, disabled: true }, server.clock.ms);
    await life.expectInactive(resourceServer, approval.tokens.access_token);
    await life.expectInactive(resourceServer, approval.tokens.refresh_token!);
  });

  it('RFC 7662 §2.1: client_secret_post authenticates a resource server as well as HTTP Basic', async () => {
    const approval = await life.approve(await life.refreshingClient());
    const reply = await server.call('POST', '/oauth/introspect', {
      form: { token: approval.tokens.access_token, client_id: resourceServer.client.id, client_secret: resourceServer.secret! },
    });
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.json.active).to.equal(true);
    expect(reply.json.sub).to.equal(approval.person.id);
  });

  it('RFC 7662 §2.1: a confidential client not allowed to introspect is 401 invalid_client', async () => {
    const approval = await life.approve(await life.refreshingClient());
    const { client, secret } = await makeConfidentialClient(db.store);
    expect(client.canIntrospect).to.equal(false);
    const reply = await life.introspect({ client, secret }, approval.tokens.access_token);
    expect(reply.status, reply.text).to.equal(401);
    expect(reply.json.error).to.equal('invalid_client');
    expect(reply.headers.get('www-authenticate')).to.match(/^Basic realm="[^"]+"/);
    expect(reply.text).not.to.contain(approval.person.username);
  });

  it('RFC 7662 §2.1: a public client is 401 invalid_client, even one marked as allowed to introspect', async () => {
    const approval = await life.approve(await life.refreshingClient());
    for (const client of [await makePublicClient(db.store), await makePublicClient(db.store, { canIntrospect: true })]) {
      const reply = await life.introspect({ client }, approval.tokens.access_token);
      expect(reply.status, reply.text).to.equal(401);
      expect(reply.json.error).to.equal('invalid_client');
      expect(reply.headers.get('www-authenticate')).to.match(/^Basic /);
      expect(reply.text).not.to.contain(approval.person.username);
    }
  });

  it('RFC 7662 §2.1: no credentials, or a wrong secret, is 401 invalid_client', async () => {
    const approval = await life.approve(await life.refreshingClient());
    const none = await server.call('POST', '/oauth/introspect', { form: { token: approval.tokens.access_token } });
    expect(none.status, none.text).to.equal(401);
    expect(none.json.error).to.equal('invalid_client');
    expect(none.headers.get('www-authenticate')).to.match(/^Basic /);

    const wrong = await server.call('POST', '/oauth/introspect', {
      form: { token: approval.tokens.access_token },
      headers: { authorization: basic(resourceServer.client.id, 'o2d_cs_wrong') },
    });
    expect(wrong.status, wrong.text).to.equal(401);
    expect(wrong.json.error).to.equal('invalid_client');
  });
});
