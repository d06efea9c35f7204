/**
 * JWT access tokens (RFC 9068): verified here by an independent JOSE library (jose) with the
 * keys the server publishes, through a key rotation, and still subject to revocation.
 */
import { generateKeyPairSync } from 'node:crypto';
import { expect } from 'chai';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { ConfigError } from '../../src/config/check';
import { resolveOptions } from '../../src/options';
import { forEachDatabase } from '../support/databases';
import { BrowserSession, basic } from '../support/http';
import { DEVICE_GRANT, makeConfidentialClient, makePublicClient, makeUser, startServer, TEST_PASSWORD, TEST_SECRET_KEYS, type RunningServer } from '../support/server';

const pem = (key: ReturnType<typeof generateKeyPairSync>['privateKey']) => key.export({ type: 'pkcs8', format: 'pem' }).toString();
const RSA_KEY = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
const EC_KEY = pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);

forEachDatabase('JWT access tokens (RFC 9068)', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { accessTokenFormat: 'jwt', jwtSigningKeys: [RSA_KEY] });
    server.clock.ms = Date.now(); // jose checks exp and iat against the real clock
  });
  after(async () => server.close());

  async function tokenFrom(on: RunningServer, scope = 'profile email') {
    const client = await makePublicClient(db.store, { grantTypes: [DEVICE_GRANT, 'refresh_token'] });
    const started = (await on.call('POST', '/oauth/device_authorization', { form: { client_id: client.id, scope } })).json;
    const user = await makeUser(db.store);
    const browser = new BrowserSession(on.url);
    await browser.signIn(user.username, TEST_PASSWORD);
    await browser.decide(started.user_code, 'approve');
    const reply = await on.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: client.id, device_code: started.device_code } });
    expect(reply.status).to.equal(200);
    return { client, user, token: reply.json.access_token as string, refresh: reply.json.refresh_token as string };
  }

  async function jwks(on: RunningServer): Promise<JSONWebKeySet> {
    const reply = await on.call('GET', '/.well-known/jwks.json');
    expect(reply.status).to.equal(200);
    return reply.json;
  }

  it('RFC 9068 §2: a JWT with typ at+jwt, verified with the published JWKS by jose', async () => {
    const { client, user, token } = await tokenFrom(server);
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(await jwks(server)), {
      issuer: server.url,
      audience: server.url,
      typ: 'at+jwt',
      algorithms: ['RS256'],
    });
    expect(protectedHeader.alg).to.equal('RS256');
    expect(payload).to.include({ sub: user.id, client_id: client.id, scope: 'profile email' });
    expect(payload.exp! - payload.iat!).to.equal(3600);
    expect(payload.jti).to.be.a('string');
  });

  it('RFC 8414: metadata names the jwks_uri', async () => {
    const reply = await server.call('GET', '/.well-known/oauth-authorization-server');
    expect(reply.json.jwks_uri).to.equal(`${server.url}/.well-known/jwks.json`);
  });

  it('the JWT works at the protected resource, and introspection names it by its jti', async () => {
    const { user, token } = await tokenFrom(server);
    const me = await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).to.equal(200);
    expect(me.json.sub).to.equal(user.id);
    const rs = await makeConfidentialClient(db.store, { canIntrospect: true });
    const info = await server.call('POST', '/oauth/introspect', { form: { token }, headers: { authorization: basic(rs.client.id, rs.secret) } });
    const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks(server)), { issuer: server.url });
    expect(info.json).to.include({ active: true, jti: payload.jti, exp: payload.exp, iat: payload.iat });
  });

  it('RFC 7009: a revoked JWT still has a valid signature but is refused and inactive', async () => {
    const { client, token } = await tokenFrom(server);
    expect((await server.call('POST', '/oauth/revoke', { form: { client_id: client.id, token } })).status).to.equal(200);
    await jwtVerify(token, createLocalJWKSet(await jwks(server)), { issuer: server.url }); // does not throw
    expect((await server.call('GET', '/api/me', { headers: { authorization: `Bearer ${token}` } })).status).to.equal(401);
    const rs = await makeConfidentialClient(db.store, { canIntrospect: true });
    const info = await server.call('POST', '/oauth/introspect', { form: { token }, headers: { authorization: basic(rs.client.id, rs.secret) } });
    expect(info.json).to.deep.equal({ active: false });
  });

  it('opaque tokens (the default) publish an empty JWK Set and no jwks_uri', async () => {
    const opaque = await startServer(db.store);
    try {
      expect((await jwks(opaque)).keys).to.deep.equal([]);
      const metadata = await opaque.call('GET', '/.well-known/oauth-authorization-server');
      expect(metadata.json).not.to.have.property('jwks_uri');
    } finally {
      await opaque.close();
    }
  });

  it('key rotation: a new key signs, the old key is still published, so old tokens still verify', async () => {
    const old = await tokenFrom(server);
    const rotated = await startServer(db.store, { accessTokenFormat: 'jwt', jwtSigningKeys: [EC_KEY, RSA_KEY] });
    rotated.clock.ms = Date.now();
    try {
      const set = await jwks(rotated);
      expect(set.keys.map((k) => k.alg)).to.deep.equal(['ES256', 'RS256']);
      const verifyWith = createLocalJWKSet(set);
      await jwtVerify(old.token, verifyWith, { issuer: server.url });
      const fresh = await tokenFrom(rotated);
      expect(decodeProtectedHeader(fresh.token)).to.include({ alg: 'ES256', kid: set.keys[0]!.kid });
      await jwtVerify(fresh.token, verifyWith, { issuer: rotated.url, typ: 'at+jwt' });
      // A refresh after the rotation is signed with the new key.
      const refreshed = await rotated.call('POST', '/oauth/token', {
        form: { grant_type: 'refresh_token', client_id: old.client.id, refresh_token: old.refresh },
      });
      expect(decodeProtectedHeader(refreshed.json.access_token).alg).to.equal('ES256');
    } finally {
      await rotated.close();
    }
  });
});

describe('JWT configuration', () => {
  const base = { issuer: 'http://127.0.0.1:1', store: {} as never, secretKeys: TEST_SECRET_KEYS };

  it('refuses JWT access tokens without a signing key, with a short RSA key, or with an unsupported key type', () => {
    expect(() => resolveOptions({ ...base, accessTokenFormat: 'jwt' })).to.throw(ConfigError, 'signing key');
    const weak = pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey);
    expect(() => resolveOptions({ ...base, accessTokenFormat: 'jwt', jwtSigningKeys: [weak] })).to.throw(ConfigError, '2048');
    const ed = pem(generateKeyPairSync('ed25519').privateKey);
    expect(() => resolveOptions({ ...base, accessTokenFormat: 'jwt', jwtSigningKeys: [ed] })).to.throw(ConfigError, 'RSA or EC P-256');
    expect(() => resolveOptions({ ...base, accessTokenFormat: 'jwe' as never })).to.throw(ConfigError, 'opaque or jwt');
  });
});
