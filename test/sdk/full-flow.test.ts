/**
 * The whole flow as a device team would write it, with the generated SDK against the running
 * app: authorize, poll while pending, the person approves in the pages, poll again, call /api/me.
 */
import { expect } from 'chai';
import { Configuration, DeviceApi, DiscoveryApi, ResourceApi } from '../../generated';
import { BrowserSession, checkedFetch } from '../support/http';
import { forEachDatabase } from '../support/databases';
import { DEVICE_GRANT, makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

forEachDatabase('generated SDK, full device flow', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  it('RFC 8628 §3.1-§3.5: authorize, pending, approve, token, protected resource', async () => {
    const client = await makePublicClient(db.store);
    const person = await makeUser(db.store);
    // This generator's runtime defaults to window.fetch; on Node a fetch is passed in (here one
    // that also checks every response against openapi.yaml).
    const config = new Configuration({ basePath: server.url, fetchApi: checkedFetch });

    const metadata = await new DiscoveryApi(config).getAuthorizationServerMetadata();
    expect(metadata.grant_types_supported).to.include(DEVICE_GRANT);

    const device = new DeviceApi(config);
    const started = await device.deviceAuthorization({ clientId: client.id, scope: 'profile email' });
    expect(started.user_code).to.match(/^[A-Z]{4}-[A-Z]{4}$/);

    const pending = await device.token({ grantType: DEVICE_GRANT, deviceCode: started.device_code, clientId: client.id }).catch((e) => e);
    // On an error status this generator's runtime throws the Response itself.
    expect(pending).to.be.instanceOf(Response);
    expect((pending as Response).status).to.equal(400);
    expect(await (pending as Response).json()).to.include({ error: 'authorization_pending' });

    const browser = new BrowserSession(server.url);
    await browser.signIn(person.username, TEST_PASSWORD);
    expect((await browser.decide(started.user_code.toLowerCase(), 'approve')).text).to.include('Device connected');

    server.clock.advance(started.interval);
    const token = await device.token({ grantType: DEVICE_GRANT, deviceCode: started.device_code, clientId: client.id });
    expect(token.token_type).to.equal('Bearer');
    expect(token.scope).to.equal('profile email');

    const me = await new ResourceApi(new Configuration({ basePath: server.url, fetchApi: checkedFetch, accessToken: token.access_token })).getMe();
    expect(me).to.deep.equal({
      sub: person.id,
      username: person.username,
      name: person.name,
      email: person.email,
      client_id: client.id,
      scope: 'profile email',
    });
  });
});
