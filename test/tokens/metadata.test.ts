import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { DEVICE_GRANT, startServer, type RunningServer } from '../support/server';

const ISSUER = 'https://auth.example.test';

forEachDatabase('authorization server metadata for the token lifecycle (RFC 8414 §2)', (db) => {
  let server: RunningServer;
  let metadata: any;
  before(async () => {
    server = await startServer(db.store, { issuer: ISSUER });
    const reply = await server.call('GET', '/.well-known/oauth-authorization-server');
    expect(reply.status).to.equal(200);
    metadata = reply.json;
  });
  after(async () => server.close());

  it('RFC 8414 §2: revocation_endpoint is the RFC 7009 endpoint under the issuer', () => {
    expect(metadata.revocation_endpoint).to.equal(`${ISSUER}/oauth/revoke`);
  });

  it('RFC 8414 §2: revocation_endpoint_auth_methods_supported is none, client_secret_basic and client_secret_post', () => {
    expect(metadata.revocation_endpoint_auth_methods_supported).to.have.members(['none', 'client_secret_basic', 'client_secret_post']);
  });

  it('RFC 8414 §2: introspection_endpoint is the RFC 7662 endpoint under the issuer', () => {
    expect(metadata.introspection_endpoint).to.equal(`${ISSUER}/oauth/introspect`);
  });

  it('RFC 8414 §2: introspection_endpoint_auth_methods_supported is client_secret_basic and client_secret_post, never none', () => {
    expect(metadata.introspection_endpoint_auth_methods_supported).to.have.members(['client_secret_basic', 'client_secret_post']);
    expect(metadata.introspection_endpoint_auth_methods_supported).not.to.include('none');
  });

  it('RFC 8414 §2: grant_types_supported includes refresh_token and the device code grant', () => {
    expect(metadata.grant_types_supported).to.include.members(['refresh_token', DEVICE_GRANT]);
  });

  it('RFC 8414 §2: the published endpoints answer (revocation and introspection are mounted where the metadata says)', async () => {
    // The issuer is not this server's address, so call the same paths on the server itself.
    for (const endpoint of [metadata.revocation_endpoint, metadata.introspection_endpoint]) {
      const path = new URL(endpoint).pathname;
      const reply = await server.call('POST', path, { form: { token: 'o2d_at_anything' } });
      // Without client credentials both must refuse the client, not answer 404.
      expect(reply.status, `${path}: ${reply.text}`).to.equal(401);
      expect(reply.json.error).to.equal('invalid_client');
    }
  });
});
