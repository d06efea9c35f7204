/**
 * The edges of the router and the error renderer: paths the spec does not have, methods it
 * does not allow, and a database that cannot be reached. Every answer is JSON in the RFC 6749
 * §5.2 shape (or an HTML page on the activation pages), never a stack trace.
 */
import { expect } from 'chai';
import { openDatabase, parseDatabaseUrl } from '../../src/storage/database';
import { KnexStore } from '../../src/storage/knex-store';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { startServer, type RunningServer } from '../support/server';

forEachDatabase('router edges', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('an unknown path is a JSON 404 not_found', async () => {
    const reply = await server.call('GET', '/no/such/path');
    expect(reply.status).to.equal(404);
    expect(reply.json).to.deep.equal({ error: 'not_found', error_description: 'no such endpoint' });
  });

  it('a known path with the wrong method is 405 with Allow', async () => {
    const reply = await server.call('GET', '/oauth/token');
    expect(reply.status).to.equal(405);
    expect(reply.headers.get('allow')).to.equal('POST');
    expect(reply.json.error).to.equal('method_not_allowed');
    const activate = await server.call('DELETE', '/activate');
    expect(activate.headers.get('allow')).to.equal('GET, POST');
  });

  it('a form without Content-Type is refused with 415, not guessed at', async () => {
    const reply = await server.call('POST', '/oauth/token', { body: 'grant_type=x' });
    expect(reply.status).to.equal(415);
    expect(reply.json.error).to.equal('invalid_request');
  });

  it('a form in another charset is refused with 415', async () => {
    const reply = await server.call('POST', '/oauth/token', {
      body: 'grant_type=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' },
    });
    expect(reply.status).to.equal(415);
  });

  it('security headers are on API answers too', async () => {
    const reply = await server.call('GET', '/.well-known/oauth-authorization-server');
    expect(reply.headers.get('x-content-type-options')).to.equal('nosniff');
    expect(reply.headers.get('content-security-policy')).to.include("frame-ancestors 'none'");
  });
});

describe('a database that cannot be reached', () => {
  let server: RunningServer;
  let store: KnexStore;
  before(async () => {
    // A real connection attempt to a port where nothing listens: ECONNREFUSED from the driver.
    store = new KnexStore(openDatabase(parseDatabaseUrl('mysql://nobody@127.0.0.1:1/none')));
    server = await startServer(store, { logError: () => {} });
  });
  after(async () => {
    await server.close();
    await store.close();
  });

  it('API calls get 503 temporarily_unavailable with Retry-After', async () => {
    const reply = await server.call('POST', '/oauth/device_authorization', { form: { client_id: 'x' } });
    expect(reply.status).to.equal(503);
    expect(reply.json.error).to.equal('temporarily_unavailable');
    expect(reply.headers.get('retry-after')).to.match(/^\d+$/);
  });

  it('the protected resource gets 503 too, not 401', async () => {
    const reply = await server.call('GET', '/api/me', { headers: { authorization: 'Bearer o2d_at_x' } });
    expect(reply.status).to.equal(503);
    expect(reply.json.error).to.equal('temporarily_unavailable');
  });

  it('the pages answer a readable 503 page with Retry-After', async () => {
    const browser = new BrowserSession(server.url);
    const reply = await browser.signIn('someone', 'password'); // the sign-in page needs no database; the check does
    expect(reply.status).to.equal(503);
    expect(reply.headers.get('content-type')).to.match(/^text\/html/);
    expect(reply.headers.get('retry-after')).to.match(/^\d+$/);
    expect(reply.text).to.include('The service is busy');
    expect(reply.text).not.to.match(/ECONNREFUSED|at .*\.ts:/);
  });
});
