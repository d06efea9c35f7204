import { expect } from 'chai';
import { USER_CODE_ALPHABET_RFC8628 } from '../../src/config/defaults';
import { DuplicateUserCode, type NewDeviceAuthorization, type Store } from '../../src/storage/store';
import { forEachDatabase } from '../support/databases';
import { basic } from '../support/http';
import { makeConfidentialClient, makePublicClient, startServer, type RunningServer } from '../support/server';

const USER_CODE_SHAPE = new RegExp(`^[${USER_CODE_ALPHABET_RFC8628}]{4}-[${USER_CODE_ALPHABET_RFC8628}]{4}$`);

forEachDatabase('device authorization endpoint', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server.close());

  const authorize = (form: Record<string, string | string[]>, headers?: Record<string, string>) =>
    server.call('POST', '/oauth/device_authorization', { form, headers });

  it('RFC 8628 §3.2: answers device_code, user_code, verification URIs, expires_in and interval', async () => {
    const client = await makePublicClient(db.store);
    const reply = await authorize({ client_id: client.id });
    expect(reply.status).to.equal(200);
    const body = reply.json;
    expect(body.user_code).to.match(USER_CODE_SHAPE);
    expect(body.verification_uri).to.equal(`${server.url}/activate`);
    expect(body.verification_uri_complete).to.equal(`${server.url}/activate?user_code=${body.user_code}`);
    expect(body.expires_in).to.equal(900);
    expect(body.interval).to.equal(5);
  });

  it('RFC 8628 §3.2: the response carries a credential, so Cache-Control is no-store', async () => {
    const client = await makePublicClient(db.store);
    const reply = await authorize({ client_id: client.id });
    expect(reply.headers.get('cache-control')).to.equal('no-store');
  });

  it('RFC 8628 §5.2: device codes have at least 128 bits of randomness and never repeat', async () => {
    const client = await makePublicClient(db.store);
    const codes = new Set<string>();
    for (let i = 0; i < 20; i++) codes.add((await authorize({ client_id: client.id })).json.device_code);
    expect(codes.size).to.equal(20);
    for (const code of codes) {
      // The prefix, the time in ms (12 hex, which orders the stored keys), then the random part.
      const [, random] = /^o2d_dc_[0-9a-f]{12}([A-Za-z0-9_-]+)$/.exec(code) ?? [];
      expect(random, code).to.be.a('string');
      expect(Buffer.from(random!, 'base64url').length * 8).to.be.at.least(128);
    }
  });

  it('RFC 8628 §6.1: user codes are 8 characters of the base-20 alphabet shown as XXXX-XXXX', async () => {
    const client = await makePublicClient(db.store);
    for (let i = 0; i < 20; i++) expect((await authorize({ client_id: client.id })).json.user_code).to.match(USER_CODE_SHAPE);
  });

  it('stores device and user codes only as hashes', async () => {
    const client = await makePublicClient(db.store);
    const { device_code, user_code } = (await authorize({ client_id: client.id })).json;
    const rows = await db.knex('device_authorizations').where({ client_id: client.id });
    const stored = JSON.stringify(rows);
    expect(stored).not.to.include(device_code);
    expect(stored).not.to.include(user_code);
    expect(stored).not.to.include(user_code.replace('-', ''));
  });

  it('RFC 8628 §3.1: an unknown client is invalid_client (401 with WWW-Authenticate)', async () => {
    const reply = await authorize({ client_id: 'no-such-client' });
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_client');
    expect(reply.headers.get('www-authenticate')).to.match(/^Basic realm=/);
  });

  it('RFC 6749 §2.3.1: a confidential client authenticates with HTTP Basic, id and secret form-urlencoded', async () => {
    const { client, secret } = await makeConfidentialClient(db.store, { id: `svc:${Date.now()} +%` });
    const reply = await authorize({}, { authorization: basic(client.id, secret) });
    expect(reply.status).to.equal(200);
  });

  it('RFC 6749 §2.3.1: a confidential client may authenticate with client_secret_post', async () => {
    const { client, secret } = await makeConfidentialClient(db.store);
    const reply = await authorize({ client_id: client.id, client_secret: secret });
    expect(reply.status).to.equal(200);
  });

  it('RFC 6749 §2.3.1: a wrong secret is invalid_client', async () => {
    const { client } = await makeConfidentialClient(db.store);
    const basicReply = await authorize({}, { authorization: basic(client.id, 'wrong') });
    expect(basicReply.status).to.equal(401);
    expect(basicReply.json.error).to.equal('invalid_client');
    const postReply = await authorize({ client_id: client.id, client_secret: 'wrong' });
    expect(postReply.status).to.equal(401);
  });

  it('RFC 8628 §3.1: a confidential client that does not authenticate is invalid_client', async () => {
    const { client } = await makeConfidentialClient(db.store);
    const reply = await authorize({ client_id: client.id });
    expect(reply.status).to.equal(401);
    expect(reply.json.error).to.equal('invalid_client');
  });

  it('RFC 6749 §2.3: using two authentication methods at once is invalid_request', async () => {
    const { client, secret } = await makeConfidentialClient(db.store);
    const reply = await authorize({ client_secret: secret }, { authorization: basic(client.id, secret) });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
  });

  it('RFC 6749 §3.3: without scope the client gets its default scopes', async () => {
    const client = await makePublicClient(db.store, { defaultScopes: ['profile'] });
    await authorize({ client_id: client.id });
    const row = await db.knex('device_authorizations').where({ client_id: client.id }).first();
    expect(row.scope).to.equal('profile');
  });

  it('RFC 6749 §3.3: a scope the client may not have is invalid_scope', async () => {
    const client = await makePublicClient(db.store, { allowedScopes: ['profile'] });
    const reply = await authorize({ client_id: client.id, scope: 'profile email' });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_scope');
    expect(reply.json.error_description).to.include('email');
  });

  it('RFC 6749 §3.3: a client without default scopes must ask for one', async () => {
    const client = await makePublicClient(db.store, { defaultScopes: [] });
    const reply = await authorize({ client_id: client.id });
    expect(reply.json.error).to.equal('invalid_scope');
  });

  it('RFC 6749 §5.2: a client not allowed the device grant is unauthorized_client', async () => {
    const client = await makePublicClient(db.store, { grantTypes: ['refresh_token'] });
    const reply = await authorize({ client_id: client.id });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('unauthorized_client');
  });

  it('RFC 6749 §3.2: a repeated parameter is invalid_request naming it', async () => {
    const client = await makePublicClient(db.store);
    const reply = await authorize({ client_id: client.id, scope: ['profile', 'email'] });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.include('scope');
  });

  it('RFC 6749 §3.2: a parameter without a value is treated as omitted', async () => {
    const client = await makePublicClient(db.store);
    const reply = await authorize({ client_id: client.id, scope: '' });
    expect(reply.status).to.equal(200);
  });

  it('RFC 6749 Appendix B: a body that is not form-urlencoded is refused with 415', async () => {
    const client = await makePublicClient(db.store);
    const reply = await server.call('POST', '/oauth/device_authorization', {
      body: JSON.stringify({ client_id: client.id }),
      headers: { 'content-type': 'application/json' },
    });
    expect(reply.status).to.equal(415);
    expect(reply.json.error).to.equal('invalid_request');
  });

  it('a body larger than the limit is refused with 413', async () => {
    const reply = await server.call('POST', '/oauth/device_authorization', {
      body: `client_id=${'a'.repeat(20_000)}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(reply.status).to.equal(413);
    expect(reply.json.error).to.equal('invalid_request');
  });

  it('validation errors name the bad field', async () => {
    const reply = await authorize({ client_id: 'x'.repeat(200) });
    expect(reply.status).to.equal(400);
    expect(reply.json.error).to.equal('invalid_request');
    expect(reply.json.error_description).to.equal('client_id must be at most 128 characters');
  });

  it('a user code that is already taken is drawn again', async () => {
    const client = await makePublicClient(db.store);
    // The first insert meets a row that already holds its user-code hash (a real unique-index
    // violation in the database); the server must draw another code and succeed.
    let collided = 0;
    const colliding: Store = Object.create(db.store);
    colliding.createDeviceAuthorization = async (a: NewDeviceAuthorization) => {
      if (collided === 0) {
        await db.store.createDeviceAuthorization({ ...a, id: `${a.id}-first`, deviceCodeHash: `${a.deviceCodeHash.slice(0, 60)}0000` });
        try {
          await db.store.createDeviceAuthorization(a);
        } catch (err) {
          expect(err).to.be.instanceOf(DuplicateUserCode);
          collided++;
          throw err;
        }
      }
      return db.store.createDeviceAuthorization(a);
    };
    const other = await startServer(colliding);
    try {
      const reply = await other.call('POST', '/oauth/device_authorization', { form: { client_id: client.id } });
      expect(reply.status).to.equal(200);
      expect(collided).to.equal(1);
      expect(await db.knex('device_authorizations').where({ client_id: client.id }).count({ n: '*' })).to.deep.equal([{ n: 2 }]);
    } finally {
      await other.close();
    }
  });
});
