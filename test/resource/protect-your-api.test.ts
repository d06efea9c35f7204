/** examples/protect-your-api.ts: an integrator's own route behind requireOAuth. */
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createProtectedApi } from '../../examples/protect-your-api';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { DEVICE_GRANT, makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

forEachDatabase('the protect-your-api example', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('admits a token with scope profile, and answers RFC 6750 errors without one', async () => {
    const api = (await createProtectedApi(server.oauth)).listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => api.once('listening', () => resolve()));
    const url = `http://127.0.0.1:${(api.address() as AddressInfo).port}/profile`;
    try {
      const client = await makePublicClient(db.store, { name: 'Hall Speaker' });
      const user = await makeUser(db.store);
      const started = (await server.call('POST', '/oauth/device_authorization', { form: { client_id: client.id, scope: 'profile' } })).json;
      const browser = new BrowserSession(server.url);
      await browser.signIn(user.username, TEST_PASSWORD);
      await browser.decide(started.user_code, 'approve');
      const token = (await server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: client.id, device_code: started.device_code } })).json.access_token;

      const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).to.equal(200);
      expect(await ok.json()).to.deep.equal({ hello: user.name, via: 'Hall Speaker', scopes: ['profile'] });
      const anonymous = await fetch(url);
      expect(anonymous.status).to.equal(401);
      expect(anonymous.headers.get('www-authenticate')).to.match(/^Bearer realm="/);
    } finally {
      api.closeAllConnections();
      await new Promise<void>((resolve) => api.close(() => resolve()));
    }
  });
});
