/**
 * Cases the fuzzer found and the server now answers correctly (each once a 5xx, a wrong
 * status or a missing header). Kept as plain tests so they cannot regress silently.
 */
import { connect } from 'node:net';
import { expect } from 'chai';
import { registerUser } from '../../src/accounts';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { makePublicClient, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

function raw(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let answer = '';
    socket.setEncoding('utf8').on('data', (d) => (answer += d));
    socket.on('end', () => resolve(answer)).on('error', reject);
    setTimeout(() => {
      socket.destroy();
      resolve(answer);
    }, 3000).unref();
  });
}

forEachDatabase('findings of the fuzzer', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { trustProxy: true });
  });
  after(async () => server.close());

  it('broken percent-encoding in a path segment is a JSON 404, not a 500', async () => {
    for (const path of ['/api/me/devices/%FF', '/api/me/devices/%E0%A4%A', '/activate/%']) {
      const reply = await server.call('DELETE', path, { headers: { authorization: 'Bearer o2d_at_x' } });
      expect(reply.status, path).to.equal(404);
      expect(reply.json.error).to.equal('not_found');
    }
  });

  it('RFC 6749 §3.1: query parameters an operation does not declare are ignored', async () => {
    expect((await server.call('GET', '/.well-known/oauth-authorization-server', { query: { utm_source: 'x' } })).status).to.equal(200);
    expect((await server.call('GET', '/.well-known/jwks.json', { query: { x: '1' } })).status).to.equal(200);
    const page = await server.call('GET', '/activate', { query: { utm: '1', user_code: '' } });
    expect(page.status).to.equal(200);
  });

  it('RFC 6750 §3: a malformed request to a protected resource carries the Bearer challenge', async () => {
    const reply = await server.call('DELETE', `/api/me/devices/${'x'.repeat(65)}`, { headers: { authorization: 'Bearer o2d_at_unknown' } });
    // The token is checked first: an unknown one is 401 invalid_token with its challenge.
    expect(reply.headers.get('www-authenticate')).to.match(/^Bearer realm=/);
  });

  it('an HTTP/1.1 request without Host gets a JSON 400', async () => {
    const answer = await raw(server.url, 'GET /.well-known/oauth-authorization-server HTTP/1.1\r\nConnection: close\r\n\r\n');
    expect(answer).to.match(/^HTTP\/1\.1 400 /);
    expect(answer).to.include('"error":"invalid_request"');
  });

  it('behind a proxy, only the address the proxy saw counts, and free text never reaches the database', async () => {
    const client = await makePublicClient(db.store);
    const forged = `${'9'.repeat(300)}, 203.0.113.9`;
    const reply = await server.call('POST', '/oauth/device_authorization', { form: { client_id: client.id }, headers: { 'x-forwarded-for': forged } });
    expect(reply.status).to.equal(200);
    const row = await db.knex('device_authorizations').where({ client_id: client.id }).first();
    expect(row.request_ip).to.equal('203.0.113.9');
    const junk = await server.call('POST', '/oauth/device_authorization', { form: { client_id: client.id }, headers: { 'x-forwarded-for': 'x'.repeat(300) } });
    expect(junk.status).to.equal(200);
    const browser = new BrowserSession(server.url);
    const page = await browser.get('/signin');
    const failed = await browser.send('POST', '/signin', {
      form: { csrf_token: BrowserSession.csrf(page), username: 'nobody', password: 'x' },
      headers: { 'x-forwarded-for': `${'y'.repeat(300)}` },
    });
    expect(failed.status).to.equal(401);
  });

  it('usernames match exactly on every database: ALICE, alice with a space or àlice are not alice', async () => {
    const username = `alice${Date.now()}`;
    await registerUser(db.store, { username, password: TEST_PASSWORD, name: 'Alice' });
    for (const variant of [username.toUpperCase(), `${username} `, `à${username.slice(1)}`]) {
      const reply = await new BrowserSession(server.url).signIn(variant, TEST_PASSWORD);
      expect(reply.status, JSON.stringify(variant)).to.equal(401);
    }
    expect((await new BrowserSession(server.url).signIn(username, TEST_PASSWORD)).status).to.equal(303);
  });
});
