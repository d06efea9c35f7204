/** The integrator's own sign-in (examples/own-sign-in.ts) drives the activation pages. */
import { expect } from 'chai';
import { getCurrentUserFrom, type Directory } from '../../examples/own-sign-in';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { startServer, type RunningServer } from '../support/server';
import { poll, startFlow } from './flow';

forEachDatabase('plugging in your own sign-in (getCurrentUser)', (db) => {
  let server: RunningServer;
  const directory: Directory = {
    userForSession: async (id) => (id === 'alice-session' ? { id: '42', login: 'alice', displayName: 'Alice Example', email: 'alice@corp.test' } : undefined),
  };
  before(async () => {
    server = await startServer(db.store, { getCurrentUser: getCurrentUserFrom(directory, db.store) });
  });
  after(async () => server.close());

  it('a person signed in to the integrator app goes straight to the confirm page and approves', async () => {
    const flow = await startFlow(server, db.store, { scope: 'profile email' });
    const browser = new BrowserSession(server.url);
    browser.setCookie('corp_session', 'alice-session');
    const confirm = await browser.get('/activate', { user_code: flow.userCode });
    expect(confirm.status).to.equal(200);
    expect(confirm.text).to.include('Alice Example');
    const result = await browser.post('/activate/decision', { csrf_token: BrowserSession.csrf(confirm), user_code: flow.userCode, decision: 'approve' });
    expect(result.status).to.equal(200);
    const token = await poll(server, flow);
    expect(token.status).to.equal(200);
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${token.json.access_token}` } });
    expect(me.json).to.include({ sub: 'corp:42', username: 'alice', email: 'alice@corp.test' });
  });

  it('without the integrator session the person is sent to sign in', async () => {
    const flow = await startFlow(server, db.store);
    const reply = await new BrowserSession(server.url).get('/activate', { user_code: flow.userCode });
    expect(reply.status).to.equal(303);
    expect(reply.headers.get('location')).to.match(/^\/signin\?return_to=/);
  });

  it('a person from the directory cannot sign in with a local password', async () => {
    await getCurrentUserFrom(directory, db.store)({ cookies: { get: () => 'alice-session' } } as never);
    const reply = await new BrowserSession(server.url).signIn('alice', '!');
    expect(reply.status).to.equal(401);
  });
});
