/**
 * The generated SDK covers the admin API: `AdminApi` (from openapi.yaml, tag Admin) registers a
 * confidential client, rotates its secret and reads it back, over real HTTP, every response
 * checked against openapi.yaml by checkedFetch.
 */
import { expect } from 'chai';
import { AdminApi, AdminCreateClientTypeEnum, Configuration } from '../../generated';
import { basic, checkedFetch } from '../support/http';
import { forEachDatabase } from '../support/databases';
import { DEVICE_GRANT, startServer, TEST_ADMIN_TOKEN, uniqueName, type RunningServer } from '../support/server';

forEachDatabase('admin API through the generated SDK', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { adminTokens: [TEST_ADMIN_TOKEN] });
  });
  after(async () => server.close());

  const deviceAuthorization = (id: string, secret: string) =>
    fetch(`${server.url}/oauth/device_authorization`, { method: 'POST', headers: { authorization: basic(id, secret), 'content-type': 'application/x-www-form-urlencoded' }, body: '' });

  it('AdminApi: create a confidential client, rotate its secret (the old one fails, the new one works), show it without a secret', async () => {
    const api = new AdminApi(new Configuration({ basePath: server.url, fetchApi: checkedFetch, accessToken: TEST_ADMIN_TOKEN }));
    const clientId = uniqueName('sdk');
    const created = await api.adminCreateClient({
      clientId,
      name: 'SDK Service',
      type: AdminCreateClientTypeEnum.Confidential,
      allowedScopes: 'profile email',
      defaultScopes: 'profile',
      grantTypes: DEVICE_GRANT,
      accessTokenLifetime: 600,
    });
    expect(created).to.include({ client_id: clientId, type: 'confidential', access_token_lifetime: 600, refresh_token_lifetime: null });
    expect(created.client_secret).to.match(/^o2d_cs_/);
    expect((await deviceAuthorization(clientId, created.client_secret!)).status).to.equal(200);

    const rotated = await api.adminRotateClientSecret({ clientId });
    expect(rotated.client_id).to.equal(clientId);
    expect(rotated.client_secret).not.to.equal(created.client_secret);
    expect((await deviceAuthorization(clientId, created.client_secret!)).status).to.equal(401);
    expect((await deviceAuthorization(clientId, rotated.client_secret)).status).to.equal(200);

    const shown = await api.adminGetClient({ clientId });
    const { client_secret: _secret, ...withoutSecret } = created;
    expect(shown).to.deep.equal(withoutSecret);
    expect(shown).not.to.have.property('client_secret');
    const listed = await api.adminListClients();
    expect(listed.clients.map((c) => c.client_id)).to.include(clientId);
  });

  it('AdminApi without the admin token: the SDK throws the 401 response', async () => {
    const api = new AdminApi(new Configuration({ basePath: server.url, fetchApi: checkedFetch }));
    const thrown = await api.adminListClients().then(() => undefined, (err: unknown) => err);
    expect(thrown).to.be.instanceOf(Response);
    expect((thrown as Response).status).to.equal(401);
  });
});
