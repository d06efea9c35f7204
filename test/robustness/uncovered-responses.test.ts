/**
 * Responses that openapi.yaml declares and that no other test received (found by
 * test/robustness/contract-coverage.test.ts): each one produced for real, over HTTP, against a
 * running server on a real database. Every reply is also checked against openapi.yaml by
 * test/support/http.ts (status declared, headers, body schema).
 *
 * - 413 and 415 on every operation that takes a form body, iterated from the spec;
 * - 503 on every operation that declares it, from a server whose database cannot be reached;
 * - the remaining 400/401/404/409/429 answers, one test each.
 */
import { expect } from 'chai';
import { loadSpec } from '../../src/app';
import { defaults } from '../../src/config/defaults';
import { FORM_MEDIA_TYPE } from '../../src/http/form-body';
import { openDatabase, parseDatabaseUrl } from '../../src/storage/database';
import { KnexStore } from '../../src/storage/knex-store';
import { forEachDatabase } from '../support/databases';
import { basic, BrowserSession, type Reply } from '../support/http';
import { makeConfidentialClient, makeUser, startServer, TEST_ADMIN_TOKEN, TEST_PASSWORD, type RunningServer } from '../support/server';
import { startFlow } from '../activation/flow';

interface SpecOperation {
  operationId: string;
  method: string;
  path: string;
  page: boolean;
  formBody: boolean;
  statuses: string[];
}

/** The operations of openapi.yaml, read synchronously so that tests can be declared per operation. */
function specOperations(): SpecOperation[] {
  const spec = loadSpec() as { paths: Record<string, Record<string, any>> };
  const operations: SpecOperation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!op || typeof op !== 'object' || !op.operationId) continue;
      operations.push({
        operationId: op.operationId,
        method: method.toUpperCase(),
        path,
        page: (op.tags ?? []).includes('Activation'),
        formBody: Boolean(op.requestBody?.content?.[FORM_MEDIA_TYPE]),
        statuses: Object.keys(op.responses ?? {}),
      });
    }
  }
  return operations;
}

/** A concrete URL path for a templated one. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'some-id');

const SESSION_COOKIES = ['o2d_session', 'o2d_session.sig', 'o2d_csrf', 'o2d_csrf.sig'];

/** The answer is an error in the right form: an HTML page on the activation pages, JSON elsewhere. */
function expectErrorShape(op: SpecOperation, reply: Reply, status: number): void {
  expect(reply.status, reply.text.slice(0, 300)).to.equal(status);
  if (op.page) {
    expect(reply.headers.get('content-type')).to.match(/^text\/html/);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    expect(reply.text).to.include('<html');
  } else {
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.be.a('string').and.not.equal('');
  }
  expect(reply.text).not.to.match(/\n\s+at |\/src\//);
}

const FORM_OPERATIONS = specOperations().filter((op) => op.formBody);

forEachDatabase('declared responses: 413 and 415 on every form operation', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('the spec has form operations to check', () => {
    expect(FORM_OPERATIONS.length).to.be.greaterThan(5);
    for (const op of FORM_OPERATIONS) expect(op.statuses, op.operationId).to.include.members(['413', '415']);
  });

  for (const op of FORM_OPERATIONS) {
    it(`${op.operationId}: a body one byte over the limit is 413`, async () => {
      const body = `a=${'x'.repeat(defaults.bodyLimit - 1)}`; // bodyLimit + 1 bytes
      expect(Buffer.byteLength(body)).to.equal(defaults.bodyLimit + 1);
      const reply = await server.call(op.method, concrete(op.path), { body, headers: { 'content-type': FORM_MEDIA_TYPE } });
      expectErrorShape(op, reply, 413);
    });

    it(`${op.operationId}: a body exactly at the limit is not 413`, async () => {
      const body = `a=${'x'.repeat(defaults.bodyLimit - 2)}`;
      const reply = await server.call(op.method, concrete(op.path), { body, headers: { 'content-type': FORM_MEDIA_TYPE } });
      expect(reply.status).to.be.within(200, 499).and.not.equal(413);
    });

    for (const [what, headers] of [
      ['JSON', { 'content-type': 'application/json' }],
      ['text/plain (what fetch sends for a bare string)', {}],
      ['multipart', { 'content-type': 'multipart/form-data; boundary=x' }],
      ['a form in latin-1', { 'content-type': `${FORM_MEDIA_TYPE}; charset=iso-8859-1` }],
    ] as const) {
      it(`${op.operationId}: ${what} is 415`, async () => {
        const reply = await server.call(op.method, concrete(op.path), { body: '{"a":"b"}', headers: { ...headers } });
        expectErrorShape(op, reply, 415);
      });
    }
  }
});

forEachDatabase('declared responses: 503 on every operation that declares it', (db) => {
  let healthy: RunningServer;
  let broken: RunningServer;
  let store: KnexStore;
  /** A browser signed in on the healthy server; its cookies are valid on the broken one (same keys). */
  let cookies: Record<string, string>;
  let csrf: string;

  before(async () => {
    healthy = await startServer(db.store);
    // A real connection attempt to a port where nothing listens: ECONNREFUSED from the driver.
    store = new KnexStore(openDatabase(parseDatabaseUrl('mysql://nobody@127.0.0.1:1/none')));
    broken = await startServer(store, { logError: () => {}, adminTokens: [TEST_ADMIN_TOKEN] });
    const user = await makeUser(db.store);
    const browser = new BrowserSession(healthy.url);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    csrf = BrowserSession.csrf(await browser.get('/activate'));
    cookies = Object.fromEntries(SESSION_COOKIES.map((name) => [name, browser.cookie(name)!]));
    for (const name of SESSION_COOKIES) expect(cookies[name], name).to.be.a('string');
  });
  after(async () => {
    await broken.close();
    await healthy.close();
    await store.close();
  });

  /** A browser on the broken server that carries the healthy server's session and CSRF cookies. */
  function signedInBrowser(): BrowserSession {
    const browser = new BrowserSession(broken.url);
    for (const [name, value] of Object.entries(cookies)) browser.setCookie(name, value);
    return browser;
  }

  const bearer = { authorization: 'Bearer o2d_at_unknown' };
  const clientBasic = { authorization: basic('some-client', 'some-secret') };

  /** For each operation, a request that gets as far as the database. */
  const reachesTheDatabase: Record<string, () => Promise<Reply>> = {
    deviceAuthorization: () => broken.call('POST', '/oauth/device_authorization', { form: { client_id: 'tv' } }),
    token: () => broken.call('POST', '/oauth/token', { form: { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x', client_id: 'tv' } }),
    revokeToken: () => broken.call('POST', '/oauth/revoke', { form: { token: 'o2d_at_x', client_id: 'tv' } }),
    introspectToken: () => broken.call('POST', '/oauth/introspect', { form: { token: 'o2d_at_x' }, headers: clientBasic }),
    getMe: () => broken.call('GET', '/api/me', { headers: bearer }),
    listMyDevices: () => broken.call('GET', '/api/me/devices', { headers: bearer }),
    revokeMyDevice: () => broken.call('DELETE', '/api/me/devices/some-grant', { headers: bearer }),
    showMyDevices: () => signedInBrowser().get('/account/devices'),
    revokeDeviceFromPage: () => signedInBrowser().post('/account/devices', { csrf_token: csrf, grant_id: 'some-grant' }),
    showActivation: () => signedInBrowser().get('/activate', { user_code: 'BCDF-GHJK' }),
    submitUserCode: () => signedInBrowser().post('/activate', { csrf_token: csrf, user_code: 'BCDF-GHJK' }),
    decideAuthorization: () => signedInBrowser().post('/activate/decision', { csrf_token: csrf, user_code: 'BCDF-GHJK', decision: 'approve' }),
    signIn: () => signedInBrowser().post('/signin', { csrf_token: csrf, username: 'someone', password: 'password' }),
    // The admin API, with a valid admin token.
    ...adminReachesTheDatabase(),
    getReadiness: () => broken.call('GET', '/readyz'),
  };

  function adminReachesTheDatabase(): Record<string, () => Promise<Reply>> {
    const admin = (method: string, path: string, form?: Record<string, string>) => () =>
      broken.call(method, path, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, ...(form ? { form } : {}) });
    return {
      adminCreateClient: admin('POST', '/admin/clients', { name: 'TV', type: 'public', allowed_scopes: 'profile' }),
      adminListClients: admin('GET', '/admin/clients'),
      adminGetClient: admin('GET', '/admin/clients/some-client'),
      adminUpdateClient: admin('PATCH', '/admin/clients/some-client', { name: 'TV' }),
      adminRotateClientSecret: admin('POST', '/admin/clients/some-client/secret'),
      adminDeleteClient: admin('DELETE', '/admin/clients/some-client'),
      adminCreateUser: admin('POST', '/admin/users', { username: 'someone', name: 'Someone', password: 'a long password' }),
      adminListUsers: admin('GET', '/admin/users'),
      adminGetUser: admin('GET', '/admin/users/some-user'),
      adminDisableUser: admin('POST', '/admin/users/some-user/disable'),
      adminEnableUser: admin('POST', '/admin/users/some-user/enable'),
      adminResetUserPassword: admin('POST', '/admin/users/some-user/password', { password: 'a long password' }),
    };
  }

  const with503 = specOperations().filter((op) => op.statuses.includes('503'));

  it('every operation that declares 503 has a request here that reaches the database', () => {
    expect(with503.map((op) => op.operationId)).to.have.members(Object.keys(reachesTheDatabase));
  });

  for (const op of with503) {
    it(`${op.operationId}: an unreachable database is 503 with Retry-After, without internals`, async () => {
      const send = reachesTheDatabase[op.operationId];
      expect(send, `no request for ${op.operationId}`).to.be.a('function');
      const reply = await send!();
      expect(reply.status, reply.text.slice(0, 300)).to.equal(503);
      expect(reply.headers.get('retry-after')).to.match(/^\d+$/);
      if (op.page) {
        expect(reply.headers.get('content-type')).to.match(/^text\/html/);
        expect(reply.text).to.include('The service is busy');
      } else {
        expect(reply.json.error).to.equal('temporarily_unavailable');
      }
      expect(reply.text).not.to.match(/ECONNREFUSED|127\.0\.0\.1:1|\n\s+at |\/src\/|knex|mysql/i);
    });
  }

  it('the same request on the healthy server is not 503 (the cookies and forms above are valid)', async () => {
    const browser = new BrowserSession(healthy.url);
    for (const [name, value] of Object.entries(cookies)) browser.setCookie(name, value);
    expect((await browser.get('/account/devices')).status).to.equal(200);
    expect((await browser.post('/activate', { csrf_token: csrf, user_code: 'BCDF-GHJK' })).status).to.equal(404);
  });
});

forEachDatabase('declared responses: request errors of the API', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('introspectToken 400: an authenticated resource server that sends no token gets invalid_request', async () => {
    const { client, secret } = await makeConfidentialClient(db.store, { canIntrospect: true });
    const reply = await server.call('POST', '/oauth/introspect', { form: { token_type_hint: 'access_token' }, headers: { authorization: basic(client.id, secret) } });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.include('token');
  });

  it('introspectToken 400: a repeated token is refused (RFC 6749 §3.2)', async () => {
    const { client, secret } = await makeConfidentialClient(db.store, { canIntrospect: true });
    const reply = await server.call('POST', '/oauth/introspect', { form: { token: ['a', 'b'] }, headers: { authorization: basic(client.id, secret) } });
    expect(reply.status).to.equal(400);
    expect(reply.json.error_description).to.equal('token is repeated: send each parameter once');
  });

  it('listMyDevices 400: a token in the query is invalid_request with a Bearer challenge (RFC 6750 §2.3)', async () => {
    const reply = await server.call('GET', '/api/me/devices', { query: { access_token: 'o2d_at_x' } });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.headers.get('www-authenticate')).to.match(/^Bearer realm="[^"]+", error="invalid_request"$/);
  });

  it('revokeMyDevice 400: a token sent twice (header and query) is invalid_request (RFC 6750 §2)', async () => {
    const reply = await server.call('DELETE', '/api/me/devices/some-grant', { query: { access_token: 'o2d_at_x' }, headers: { authorization: 'Bearer o2d_at_x' } });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.equal('the access token was sent more than once');
  });

  it('revokeMyDevice 401: no token is a bare Bearer challenge (RFC 6750 §3.1)', async () => {
    const reply = await server.call('DELETE', '/api/me/devices/some-grant');
    expect(reply.status).to.equal(401);
    expect(reply.headers.get('www-authenticate')).to.match(/^Bearer realm="[^"]+"$/);
  });

  it('revokeMyDevice 401: an unknown token is invalid_token', async () => {
    const reply = await server.call('DELETE', '/api/me/devices/some-grant', { headers: { authorization: 'Bearer o2d_at_unknown' } });
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_token');
    expect(reply.headers.get('www-authenticate')).to.include('error="invalid_token"');
  });
});

forEachDatabase('declared responses: request errors of the activation pages', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  async function signedIn(): Promise<BrowserSession> {
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    return browser;
  }

  function expectPage(reply: Reply, status: number): void {
    expect(reply.status, reply.text.slice(0, 300)).to.equal(status);
    expect(reply.headers.get('content-type')).to.match(/^text\/html/);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    expect(reply.text).not.to.match(/\n\s+at |\/src\//);
  }

  it('showSignIn 400: a return_to longer than 512 characters is a 400 page', async () => {
    const reply = await new BrowserSession(server.url).get('/signin', { return_to: `/${'a'.repeat(600)}` });
    expectPage(reply, 400);
    expect(reply.text).to.include('return_to');
  });

  it('showActivation 400: a user_code longer than 64 characters is a 400 page', async () => {
    const reply = await new BrowserSession(server.url).get('/activate', { user_code: 'B'.repeat(65) });
    expectPage(reply, 400);
  });

  it('submitUserCode 400: a form without user_code is a 400 page', async () => {
    const browser = await signedIn();
    const csrf = BrowserSession.csrf(await browser.get('/activate'));
    expectPage(await browser.post('/activate', { csrf_token: csrf }), 400);
  });

  it('submitUserCode 409: a code that was already approved is a 409 page', async () => {
    const flow = await startFlow(server, db.store);
    const browser = await signedIn();
    expect((await browser.decide(flow.userCode, 'approve')).status).to.equal(200);
    const csrf = BrowserSession.csrf(await browser.get('/activate'));
    const reply = await browser.post('/activate', { csrf_token: csrf, user_code: flow.userCode });
    expectPage(reply, 409);
  });

  it('decideAuthorization 404: deciding a code that does not exist is a 404 page', async () => {
    const browser = await signedIn();
    const csrf = BrowserSession.csrf(await browser.get('/activate'));
    const reply = await browser.post('/activate/decision', { csrf_token: csrf, user_code: 'BCDF-GHJK', decision: 'approve' });
    expectPage(reply, 404);
  });

  it('signIn 400: a form without password is a 400 page', async () => {
    const browser = new BrowserSession(server.url);
    const csrf = BrowserSession.csrf(await browser.get('/signin'));
    expectPage(await browser.post('/signin', { csrf_token: csrf, username: 'someone' }), 400);
  });

  it('signOut 400: a form without csrf_token is a 400 page', async () => {
    const browser = await signedIn();
    expectPage(await browser.send('POST', '/signout', { body: '', headers: { 'content-type': FORM_MEDIA_TYPE } }), 400);
  });

  it('revokeDeviceFromPage 400: a form without grant_id is a 400 page', async () => {
    const browser = await signedIn();
    const csrf = BrowserSession.csrf(await browser.get('/account/devices'));
    expectPage(await browser.post('/account/devices', { csrf_token: csrf }), 400);
  });

  it('a repeated parameter on a page form is a 400 page (RFC 6749 §3.2 rules apply to every form)', async () => {
    const browser = await signedIn();
    const csrf = BrowserSession.csrf(await browser.get('/activate'));
    const reply = await browser.send('POST', '/activate', { form: { csrf_token: csrf, user_code: ['BCDF-GHJK', 'BCDF-GHJL'] } });
    expectPage(reply, 400);
  });
});

forEachDatabase('declared responses: decideAuthorization 429', (db) => {
  // Its own database: the lockout is stored per IP address (127.0.0.1 for every test here).
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { userCodeMaxFailures: 1, attemptBackoff: 0 });
  });
  after(async () => server.close());

  it('decideAuthorization 429: after too many wrong codes, even a decision is refused with Retry-After', async () => {
    const flow = await startFlow(server, db.store);
    const user = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    expect((await browser.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    const csrf = BrowserSession.csrf(await browser.get('/activate'));
    const wrong = await browser.post('/activate/decision', { csrf_token: csrf, user_code: 'BCDF-GHJK', decision: 'approve' });
    expect(wrong.status).to.equal(404);
    const locked = await browser.post('/activate/decision', { csrf_token: csrf, user_code: flow.userCode, decision: 'approve' });
    expect(locked.status).to.equal(429);
    expect(locked.headers.get('retry-after')).to.match(/^[1-9]\d*$/);
    expect(locked.text).to.include('Too many attempts');
    // The flow was not decided: the device still waits.
    const row = await db.knex('device_authorizations').where({ client_id: flow.client.id }).first();
    expect(row.status).to.equal('pending');
  });
});
