import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { DEVICE_GRANT, startServer, type RunningServer } from '../support/server';

const ISSUER = 'https://auth.example.test';
const SCOPES = {
  profile: 'See your name and username',
  email: 'See your email address',
  'tv:watch': 'Watch on your TV',
};

forEachDatabase('authorization server metadata (RFC 8414, RFC 8628 §4)', (db) => {
  let server: RunningServer;
  let metadata: any;
  before(async () => {
    server = await startServer(db.store, { issuer: ISSUER, scopes: SCOPES });
    const reply = await server.call('GET', '/.well-known/oauth-authorization-server');
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.match(/^application\/json\b/);
    metadata = reply.json;
  });
  after(async () => server.close());

  it('RFC 8414 §3: the metadata is served at /.well-known/oauth-authorization-server as a JSON object', () => {
    expect(metadata).to.be.an('object');
    expect(metadata).not.to.be.an('array');
  });

  it('RFC 8414 §2: issuer equals the configured issuer exactly', () => {
    expect(metadata.issuer).to.equal(ISSUER);
  });

  it('RFC 8414 §3.3: by default the issuer is the URL the metadata was fetched from', async () => {
    const own = await startServer(db.store);
    try {
      const reply = await own.call('GET', '/.well-known/oauth-authorization-server');
      expect(reply.json.issuer).to.equal(own.url);
      expect(reply.json.token_endpoint).to.equal(`${own.url}/oauth/token`);
    } finally {
      await own.close();
    }
  });

  it('RFC 8414 §2: token_endpoint is the token endpoint under the issuer', () => {
    expect(metadata.token_endpoint).to.equal(`${ISSUER}/oauth/token`);
  });

  it('RFC 8628 §4: device_authorization_endpoint is under the issuer', () => {
    expect(metadata.device_authorization_endpoint).to.equal(`${ISSUER}/oauth/device_authorization`);
  });

  it('RFC 8628 §4: grant_types_supported contains the device code grant', () => {
    expect(metadata.grant_types_supported).to.be.an('array').that.includes(DEVICE_GRANT);
  });

  it('RFC 8414 §2: token_endpoint_auth_methods_supported includes none, client_secret_basic and client_secret_post', () => {
    expect(metadata.token_endpoint_auth_methods_supported).to.include.members(['none', 'client_secret_basic', 'client_secret_post']);
  });

  it('RFC 8414 §2: scopes_supported equals the configured scopes', () => {
    expect([...metadata.scopes_supported].sort()).to.deep.equal(Object.keys(SCOPES).sort());
  });

  it('RFC 8414 §2: response_types_supported is present, and empty without an authorization endpoint', () => {
    expect(metadata).to.have.property('response_types_supported');
    expect(metadata.response_types_supported).to.deep.equal([]);
  });

  it('RFC 8414 §2: the default scopes are published when none are configured', async () => {
    const own = await startServer(db.store);
    try {
      const reply = await own.call('GET', '/.well-known/oauth-authorization-server');
      expect([...reply.json.scopes_supported].sort()).to.deep.equal(['devices', 'email', 'profile']);
    } finally {
      await own.close();
    }
  });
});
