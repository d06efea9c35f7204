/** RFC 6750 §2.2: the form-encoded body method, off by default, on by option; §2: never twice. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect } from 'chai';
import Koa from 'koa';
import getRawBody from 'raw-body';
import type { OAuthContext } from '../../src/auth/bearer';
import { parseForm } from '../../src/http/form-body';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { DEVICE_GRANT, makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

forEachDatabase('bearer token in a form body (RFC 6750 §2.2)', (db) => {
  /** An integrator's app: its own form parser, then requireOAuth from a server with `allow`. */
  async function integratorApp(server: RunningServer): Promise<{ url: string; close: () => Promise<void> }> {
    const app = new Koa();
    app.use(async (ctx, next) => {
      if (ctx.is('application/x-www-form-urlencoded')) (ctx.request as { body?: unknown }).body = parseForm(await getRawBody(ctx.req, { encoding: 'utf8' }));
      await next();
    });
    app.use(server.oauth.requireOAuth('profile'));
    app.use((ctx) => {
      ctx.body = { username: (ctx.state.oauth as OAuthContext).user.username };
    });
    const http: Server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => http.once('listening', () => resolve()));
    return {
      url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      close: () => {
        http.closeAllConnections();
        return new Promise<void>((resolve) => http.close(() => resolve()));
      },
    };
  }

  async function issueToken(server: RunningServer) {
    const client = await makePublicClient(db.store);
    const user = await makeUser(db.store);
    const started = (await server.call('POST', '/oauth/device_authorization', { form: { client_id: client.id } })).json;
    const browser = new BrowserSession(server.url);
    await browser.signIn(user.username, TEST_PASSWORD);
    await browser.decide(started.user_code, 'approve');
    const reply = await server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: client.id, device_code: started.device_code } });
    return { user, token: reply.json.access_token as string };
  }

  const post = (url: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${url}/resource`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });

  it('RFC 6750 §2.2: with the option on, access_token in a form POST body is accepted', async () => {
    const server = await startServer(db.store, { acceptBearerInFormBody: true });
    const app = await integratorApp(server);
    try {
      const { user, token } = await issueToken(server);
      const reply = await post(app.url, `access_token=${encodeURIComponent(token)}&other=1`);
      expect(reply.status).to.equal(200);
      expect(await reply.json()).to.deep.equal({ username: user.username });
      // §2: a token in the header and in the body is invalid_request.
      const twice = await post(app.url, `access_token=${token}`, { authorization: `Bearer ${token}` });
      expect(twice.status).to.equal(400);
      expect((await twice.json()).error).to.equal('invalid_request');
      // §2.3 stays off: a token in the query is refused.
      const query = await fetch(`${app.url}/resource?access_token=${token}`);
      expect(query.status).to.equal(400);
    } finally {
      await app.close();
      await server.close();
    }
  });

  it('RFC 6750 §2.2: by default a token in the body is refused with invalid_request', async () => {
    const server = await startServer(db.store);
    const app = await integratorApp(server);
    try {
      const { token } = await issueToken(server);
      const reply = await post(app.url, `access_token=${token}`);
      expect(reply.status).to.equal(400);
      expect((await reply.json()).error).to.equal('invalid_request');
      expect(reply.headers.get('www-authenticate')).to.include('error="invalid_request"');
      expect((await post(app.url, '', { authorization: `Bearer ${token}` })).status).to.equal(200);
    } finally {
      await app.close();
      await server.close();
    }
  });
});
