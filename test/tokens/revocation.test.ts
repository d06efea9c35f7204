import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { basic } from '../support/http';
import { makeConfidentialClient, startServer, type RunningServer } from '../support/server';
import { Lifecycle, type Approval, type DeviceClient } from './lifecycle';

forEachDatabase('token revocation (RFC 7009)', (db) => {
  let server: RunningServer;
  let resourceServer: DeviceClient;
  const life = new Lifecycle(db, () => server);

  before(async () => {
    server = await startServer(db.store);
    resourceServer = await life.resourceServer();
  });
  after(async () => server.close());

  async function approved(): Promise<Approval> {
    return life.approve(await life.refreshingClient());
  }

  /** RFC 7009 §2.2: 200, an empty body, and no caching. */
  function expectRevoked(reply: { status: number; text: string; headers: Headers }): void {
    expect(reply.status, reply.text).to.equal(200);
    expect(reply.text).to.equal('');
    expect(reply.headers.get('cache-control')).to.equal('no-store');
  }

  for (const hint of [undefined, 'access_token', 'refresh_token'] as const) {
    const how = hint === undefined ? 'without token_type_hint' : hint === 'access_token' ? 'with token_type_hint=access_token' : 'with the wrong token_type_hint=refresh_token';
    it(`RFC 7009 §2.1: revoking an access token ${how} makes /api/me 401 and introspection inactive`, async () => {
      const approval = await approved();
      await life.expectAccessWorks(approval.tokens.access_token, approval);
      expectRevoked(await life.revoke(approval.device, approval.tokens.access_token, hint));
      await life.expectAccessRefused(approval.tokens.access_token);
      await life.expectInactive(resourceServer, approval.tokens.access_token);
      const row = await db.knex('access_tokens').where({ device_authorization_id: approval.grantId }).first();
      expect(Number(row.revoked_at)).to.equal(server.clock.ms);
    });
  }

  it('RFC 7009 §2.1: revoking an access token revokes only that token: its refresh token still works', async () => {
    const approval = await approved();
    expectRevoked(await life.revoke(approval.device, approval.tokens.access_token));
    const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
    await life.expectAccessWorks(next.access_token, approval);
  });

  for (const hint of [undefined, 'refresh_token', 'access_token'] as const) {
    const how = hint === undefined ? 'without token_type_hint' : hint === 'refresh_token' ? 'with token_type_hint=refresh_token' : 'with the wrong token_type_hint=access_token';
    it(`RFC 7009 §2.1: revoking a refresh token ${how} revokes its access tokens too, and further refresh fails`, async () => {
      const approval = await approved();
      server.clock.advance(10);
      const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
      expectRevoked(await life.revoke(approval.device, next.refresh_token!, hint));
      // Both access tokens of the grant, the one from the device code and the one from the refresh.
      await life.expectAccessRefused(approval.tokens.access_token);
      await life.expectAccessRefused(next.access_token);
      await life.expectInactive(resourceServer, next.access_token);
      await life.expectInactive(resourceServer, next.refresh_token!);
      await life.expectRefreshRefused(approval.device, next.refresh_token!);
    });
  }

  it('RFC 7009 §2.2: an unknown token is answered 200', async () => {
    const device = await life.refreshingClient();
    expectRevoked(await life.revoke(device, 'o2d_at_this-token-was-never-issued'));
    expectRevoked(await life.revoke(device, 'o2d_rt_this-token-was-never-issued', 'refresh_token'));
  });

  it('RFC 7009 §2.2: an already revoked token is answered 200 again, and stays revoked', async () => {
    const approval = await approved();
    expectRevoked(await life.revoke(approval.device, approval.tokens.access_token));
    const revokedAt = Number((await db.knex('access_tokens').where({ device_authorization_id: approval.grantId }).first()).revoked_at);
    server.clock.advance(30);
    expectRevoked(await life.revoke(approval.device, approval.tokens.access_token));
    await life.expectAccessRefused(approval.tokens.access_token);
    // The first revocation time is kept.
    expect(Number((await db.knex('access_tokens').where({ device_authorization_id: approval.grantId }).first()).revoked_at)).to.equal(revokedAt);

    expectRevoked(await life.revoke(approval.device, approval.tokens.refresh_token!));
    expectRevoked(await life.revoke(approval.device, approval.tokens.refresh_token!));
    await life.expectRefreshRefused(approval.device, approval.tokens.refresh_token!);
  });

  it("RFC 7009 §2.1: another client's token is 400 invalid_request, and the token still works", async () => {
    const approval = await approved();
    const other = await life.refreshingClient();
    for (const token of [approval.tokens.access_token, approval.tokens.refresh_token!]) {
      const reply = await life.revoke(other, token);
      expect(reply.status, reply.text).to.equal(400);
      expect(reply.json.error).to.equal('invalid_request');
    }
    await life.expectAccessWorks(approval.tokens.access_token, approval);
    expect((await life.introspection(resourceServer, approval.tokens.access_token)).active).to.equal(true);
    const next = await life.refreshed(approval.device, approval.tokens.refresh_token!);
    await life.expectAccessWorks(next.access_token, approval);
  });

  it('RFC 7009 §2.1: a confidential client revokes its own token after authenticating (Basic and client_secret_post)', async () => {
    const device = await makeConfidentialClient(db.store);
    const first = await life.approve(device);
    const second = await life.approve(device);
    expectRevoked(await life.revoke(device, first.tokens.access_token));
    await life.expectAccessRefused(first.tokens.access_token);

    await life.expectAccessWorks(second.tokens.access_token, second);
    const post = await server.call('POST', '/oauth/revoke', {
      form: { token: second.tokens.access_token, client_id: device.client.id, client_secret: device.secret },
    });
    expectRevoked(post);
    await life.expectAccessRefused(second.tokens.access_token);
  });

  it('RFC 7009 §2.1: a confidential client must authenticate: a wrong secret is 401 invalid_client with WWW-Authenticate, and nothing is revoked', async () => {
    const device = await makeConfidentialClient(db.store);
    const approval = await life.approve(device);
    const wrong = await server.call('POST', '/oauth/revoke', {
      form: { token: approval.tokens.access_token },
      headers: { authorization: basic(device.client.id, 'o2d_cs_not-the-secret') },
    });
    expect(wrong.status, wrong.text).to.equal(401);
    expect(wrong.json.error).to.equal('invalid_client');
    expect(wrong.headers.get('www-authenticate')).to.match(/^Basic realm="[^"]+"/);

    const wrongPost = await server.call('POST', '/oauth/revoke', {
      form: { token: approval.tokens.access_token, client_id: device.client.id, client_secret: 'o2d_cs_not-the-secret' },
    });
    expect(wrongPost.status).to.equal(401);
    expect(wrongPost.json.error).to.equal('invalid_client');

    const noSecret = await server.call('POST', '/oauth/revoke', { form: { token: approval.tokens.access_token, client_id: device.client.id } });
    expect(noSecret.status).to.equal(401);
    expect(noSecret.json.error).to.equal('invalid_client');
    expect(noSecret.headers.get('www-authenticate')).to.match(/^Basic realm="[^"]+"/);

    await life.expectAccessWorks(approval.tokens.access_token, approval);
  });

  it('RFC 7009 §2.1: a request without any client identification is 401 invalid_client', async () => {
    const approval = await approved();
    const reply = await server.call('POST', '/oauth/revoke', { form: { token: approval.tokens.access_token } });
    expect(reply.status, reply.text).to.equal(401);
    expect(reply.json.error).to.equal('invalid_client');
    expect(reply.headers.get('www-authenticate')).to.match(/^Basic /);
    await life.expectAccessWorks(approval.tokens.access_token, approval);
  });

  it('RFC 7009 §2.1: a request without token is 400 invalid_request naming token', async () => {
    const device = await life.refreshingClient();
    const reply = await life.revoke(device, undefined);
    expect(reply.status, reply.text).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.match(/\btoken\b/);
    expect(reply.json.error_description).to.equal('token is required');
  });
});
