import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect } from 'chai';
import Koa from 'koa';
import type { OAuthContext } from '../../src/auth/bearer';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { DEVICE_GRANT, makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

forEachDatabase('protected resource /api/me (RFC 6750)', (db) => {
  let server: RunningServer;
  let realm: string;
  before(async () => {
    server = await startServer(db.store);
    realm = new URL(server.url).host;
  });
  after(async () => server.close());

  /** A full device flow: authorize, a person approves, the device exchanges its code. */
  async function issueToken(scope: string) {
    const client = await makePublicClient(db.store);
    const user = await makeUser(db.store);
    const authorization = await server.call('POST', '/oauth/device_authorization', { form: { client_id: client.id, scope } });
    expect(authorization.status).to.equal(200);
    const browser = new BrowserSession(server.url);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    expect((await browser.decide(authorization.json.user_code, 'approve')).status).to.equal(200);
    const reply = await server.call('POST', '/oauth/token', {
      form: { grant_type: DEVICE_GRANT, client_id: client.id, device_code: authorization.json.device_code },
    });
    expect(reply.status).to.equal(200);
    expect(reply.json.token_type).to.equal('Bearer');
    return { client, user, token: reply.json.access_token as string, scope: reply.json.scope as string };
  }

  const me = (headers: Record<string, string> = {}, query?: Record<string, string>) => server.call('GET', '/api/me', { headers, query });
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('answers 200 with sub, username, name, client_id and scope of the token', async () => {
    const { client, user, token } = await issueToken('profile');
    const reply = await me(bearer(token));
    expect(reply.status).to.equal(200);
    expect(reply.json).to.deep.equal({ sub: user.id, username: user.username, name: user.name, client_id: client.id, scope: 'profile' });
    expect(reply.headers.get('cache-control')).to.equal('no-store');
  });

  it('includes email only when the token has the email scope', async () => {
    const withEmail = await issueToken('profile email');
    expect(withEmail.scope.split(' ').sort()).to.deep.equal(['email', 'profile']);
    const reply = await me(bearer(withEmail.token));
    expect(reply.status).to.equal(200);
    expect(reply.json.email).to.equal(withEmail.user.email);
    expect(reply.json.email).to.equal(`${withEmail.user.username}@example.test`);
    expect(reply.json.scope.split(' ').sort()).to.deep.equal(['email', 'profile']);

    const without = await issueToken('profile');
    const other = await me(bearer(without.token));
    expect(other.status).to.equal(200);
    expect(other.json).not.to.have.property('email');
  });

  it('accepts the scheme name "bearer" in any case (RFC 7235 §2.1)', async () => {
    const { user, token } = await issueToken('profile');
    const reply = await me({ authorization: `bearer ${token}` });
    expect(reply.status).to.equal(200);
    expect(reply.json.username).to.equal(user.username);
  });

  it('RFC 6750 §3.1: a request without a token gets a bare Bearer challenge', async () => {
    const reply = await me();
    expect(reply.status).to.equal(401);
    expect(reply.headers.get('www-authenticate')).to.equal(`Bearer realm="${realm}"`);
    expect(reply.headers.get('www-authenticate')).not.to.include('error');
  });

  it('RFC 6750 §3.1: an unknown token is 401 error="invalid_token"', async () => {
    const reply = await me(bearer('o2d_at_this-token-was-never-issued'));
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_token');
    const challenge = reply.headers.get('www-authenticate')!;
    expect(challenge).to.match(new RegExp(`^Bearer realm="${realm.replace(/\./g, '\\.')}", `));
    expect(challenge).to.include('error="invalid_token"');
  });

  it('RFC 6750 §2.1: a token that is not a b64token is 401 invalid_token', async () => {
    const reply = await me({ authorization: 'Bearer two words' });
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_token');
    expect(reply.headers.get('www-authenticate')).to.include('error="invalid_token"');
  });

  it('RFC 6750 §3.1: an expired token is 401 invalid_token', async () => {
    const { token } = await issueToken('profile');
    server.clock.advance(3599);
    expect((await me(bearer(token))).status).to.equal(200);
    server.clock.advance(2); // 3601 s after issue: the default lifetime of 3600 s is over
    const reply = await me(bearer(token));
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_token');
    expect(reply.headers.get('www-authenticate')).to.include('error="invalid_token"');
  });

  it('RFC 6750 §3.1: a token without scope profile is 403 insufficient_scope naming scope="profile"', async () => {
    const { token, scope } = await issueToken('email');
    expect(scope).to.equal('email');
    const reply = await me(bearer(token));
    expect(reply.status).to.equal(403);
    expect(reply.json.error).to.equal('insufficient_scope');
    const challenge = reply.headers.get('www-authenticate')!;
    expect(challenge).to.match(/^Bearer realm="[^"]+", /);
    expect(challenge).to.include('error="insufficient_scope"');
    expect(challenge).to.include('scope="profile"');
  });

  it('RFC 6750 §2: a token in both the header and ?access_token= is 400 invalid_request', async () => {
    const { token } = await issueToken('profile');
    const reply = await me(bearer(token), { access_token: token });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.headers.get('www-authenticate')).to.equal(`Bearer realm="${realm}", error="invalid_request"`);
  });

  it('RFC 6750 §2.3: a token only in the query is refused with 400 invalid_request (query method not supported)', async () => {
    const { token } = await issueToken('profile');
    const reply = await me({}, { access_token: token });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.headers.get('www-authenticate')).to.include('error="invalid_request"');
  });

  it('RFC 6750 §3.1: a non-Bearer Authorization scheme gets a bare Bearer challenge', async () => {
    const reply = await me({ authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` });
    expect(reply.status).to.equal(401);
    expect(reply.headers.get('www-authenticate')).to.equal(`Bearer realm="${realm}"`);
  });

  it('RFC 6750 §3.1: the token of a user who has since been disabled stops working (invalid_token)', async () => {
    const { user, token } = await issueToken('profile');
    expect((await me(bearer(token))).status).to.equal(200);
    await db.knex('users').where({ id: user.id }).update({ disabled: 1 });
    const reply = await me(bearer(token));
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_token');
    expect(reply.headers.get('www-authenticate')).to.include('error="invalid_token"');
  });

  describe("requireOAuth in an integrator's own Koa app", () => {
    let http: Server;
    let appUrl: string;
    before(async () => {
      const app = new Koa();
      app.use(server.oauth.requireOAuth('profile'));
      app.use((ctx) => {
        const oauth = ctx.state.oauth as OAuthContext;
        ctx.body = { route: 'custom', userId: oauth.user.id, username: oauth.user.username, clientId: oauth.client.id, scopes: oauth.scopes };
      });
      http = app.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => http.once('listening', () => resolve()));
      appUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    });
    after(async () => {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });

    const get = async (headers: Record<string, string> = {}) => {
      const response = await fetch(`${appUrl}/my/own/route`, { headers });
      const text = await response.text();
      return { status: response.status, headers: response.headers, json: JSON.parse(text) };
    };

    it('admits a valid token and puts the user on ctx.state.oauth', async () => {
      const { client, user, token } = await issueToken('profile email');
      const reply = await get(bearer(token));
      expect(reply.status).to.equal(200);
      expect(reply.json.route).to.equal('custom');
      expect(reply.json.userId).to.equal(user.id);
      expect(reply.json.username).to.equal(user.username);
      expect(reply.json.clientId).to.equal(client.id);
      expect([...reply.json.scopes].sort()).to.deep.equal(['email', 'profile']);
    });

    it('RFC 6750 §3.1: refuses a request without a token with a bare challenge and the error JSON', async () => {
      const reply = await get();
      expect(reply.status).to.equal(401);
      expect(reply.headers.get('www-authenticate')).to.equal(`Bearer realm="${realm}"`);
      expect(reply.json.error).to.equal('invalid_token');
      expect(reply.json.route).to.equal(undefined);
      expect(reply.headers.get('cache-control')).to.equal('no-store');
    });

    it('RFC 6750 §3.1: refuses an unknown token with 401 invalid_token', async () => {
      const reply = await get(bearer('o2d_at_unknown'));
      expect(reply.status).to.equal(401);
      expect(reply.json.error).to.equal('invalid_token');
      expect(typeof reply.json.error_description).to.equal('string');
      expect(reply.headers.get('www-authenticate')).to.include('error="invalid_token"');
    });

    it('RFC 6750 §3.1: refuses a token without the required scope with 403 insufficient_scope', async () => {
      const { token } = await issueToken('email');
      const reply = await get(bearer(token));
      expect(reply.status).to.equal(403);
      expect(reply.json.error).to.equal('insufficient_scope');
      expect(reply.headers.get('www-authenticate')).to.include('scope="profile"');
      expect(reply.json.route).to.equal(undefined);
    });
  });
});
