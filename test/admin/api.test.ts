/**
 * The admin API (tag Admin of openapi.yaml) against a live server on a real database: clients
 * registered through it run whole device flows, secrets rotate, per-client lifetimes show in
 * expires_in, deleting a client kills its tokens, users are created, disabled, enabled and get
 * new passwords, and every request without the right admin token is refused. Every reply is
 * checked against openapi.yaml by test/support/http.ts.
 */
import { expect } from 'chai';
import { loadSpec } from '../../src/app';
import { ADMIN_API_DISABLED } from '../../src/auth/admin-token';
import { sha256, tokenKey } from '../../src/helpers/secrets';
import { forEachDatabase } from '../support/databases';
import { basic, BrowserSession, type Reply } from '../support/http';
import { DEVICE_GRANT, makePublicClient, makeUser, startServer, TEST_ADMIN_TOKEN, TEST_PASSWORD, uniqueName, type RunningServer } from '../support/server';
import { Lifecycle, REFRESH_GRANT, type DeviceClient } from '../tokens/lifecycle';

const ADMIN_TOKEN = TEST_ADMIN_TOKEN;
/** An older token still configured during a rotation (newest first). */
const OLD_ADMIN_TOKEN = 'o2d_admin_old-0123456789abcdefghijklmnopqrstuvwxyz';

const adminAuth = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

/** The admin operations of openapi.yaml, read from the spec. */
function adminOperations(): Array<{ operationId: string; method: string; path: string; form: boolean }> {
  const spec = loadSpec() as { paths: Record<string, Record<string, any>> };
  const ops = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (op?.operationId && (op.tags ?? []).includes('Admin')) {
        ops.push({ operationId: op.operationId as string, method: method.toUpperCase(), path, form: Boolean(op.requestBody) });
      }
    }
  }
  return ops;
}

forEachDatabase('admin API', (db) => {
  let server: RunningServer;
  let life: Lifecycle;

  before(async () => {
    server = await startServer(db.store, { adminTokens: [ADMIN_TOKEN, OLD_ADMIN_TOKEN] });
    life = new Lifecycle(db, () => server);
  });
  after(async () => server.close());

  function admin(method: string, path: string, form?: Record<string, string>, token = ADMIN_TOKEN): Promise<Reply> {
    return server.call(method, path, { headers: adminAuth(token), ...(form ? { form } : {}) });
  }

  async function createClient(form: Record<string, string>): Promise<Reply> {
    const reply = await admin('POST', '/admin/clients', form);
    expect(reply.status, reply.text).to.equal(201);
    expect(reply.headers.get('cache-control')).to.equal('no-store');
    return reply;
  }

  /** The client as the Lifecycle helpers use it, read back from the store. */
  async function deviceClient(id: string, secret?: string): Promise<DeviceClient> {
    const client = await db.store.findClient(id);
    expect(client, `client ${id}`).to.exist;
    return secret === undefined ? { client: client! } : { client: client!, secret };
  }

  function deviceAuthorization(id: string, secret: string): Promise<Reply> {
    return server.call('POST', '/oauth/device_authorization', { form: {}, headers: { authorization: basic(id, secret) } });
  }

  describe('clients', () => {
    it('a confidential client created through the API runs a whole device flow; its secret is shown once and stored only as a hash', async () => {
      const id = uniqueName('svc');
      const created = await createClient({ client_id: id, name: 'Build Server', type: 'confidential', allowed_scopes: 'profile email', default_scopes: 'profile', grant_types: `${DEVICE_GRANT} ${REFRESH_GRANT}` });
      expect(created.json).to.deep.include({ client_id: id, name: 'Build Server', type: 'confidential', allowed_scopes: 'profile email', default_scopes: 'profile', can_introspect: false, access_token_lifetime: null, refresh_token_lifetime: null });
      const secret = created.json.client_secret as string;
      expect(secret).to.match(/^o2d_cs_[A-Za-z0-9_-]{43}$/);
      const row = await db.knex('clients').where({ id }).first();
      expect(row.secret_hash).to.equal(sha256(secret));
      expect(JSON.stringify(row)).not.to.include(secret);

      const shown = await admin('GET', `/admin/clients/${id}`);
      expect(shown.status).to.equal(200);
      expect(shown.json).not.to.have.property('client_secret');
      expect(shown.text).not.to.include(row.secret_hash);

      const approval = await life.approve(await deviceClient(id, secret), { scope: 'profile email' });
      expect(approval.tokens.scope).to.equal('profile email');
      expect(approval.tokens.refresh_token).to.be.a('string');
      await life.expectAccessWorks(approval.tokens.access_token, approval);
    });

    it('rotating the secret: the new one is shown once, the old one is invalid_client at once, the new one works (device authorization and refresh)', async () => {
      const id = uniqueName('svc');
      const oldSecret = (await createClient({ client_id: id, name: 'Rotating', type: 'confidential', allowed_scopes: 'profile', grant_types: `${DEVICE_GRANT} ${REFRESH_GRANT}` })).json.client_secret as string;
      const approval = await life.approve(await deviceClient(id, oldSecret));

      const rotated = await admin('POST', `/admin/clients/${id}/secret`);
      expect(rotated.status, rotated.text).to.equal(200);
      expect(rotated.headers.get('cache-control')).to.equal('no-store');
      expect(rotated.json.client_id).to.equal(id);
      const newSecret = rotated.json.client_secret as string;
      expect(newSecret).to.match(/^o2d_cs_/).and.not.equal(oldSecret);

      const old = await deviceAuthorization(id, oldSecret);
      expect(old.status).to.equal(401);
      expect(old.json.error).to.equal('invalid_client');
      expect((await life.refresh({ client: approval.device.client, secret: oldSecret }, approval.tokens.refresh_token)).status).to.equal(401);
      expect((await deviceAuthorization(id, newSecret)).status).to.equal(200);
      await life.refreshed({ client: approval.device.client, secret: newSecret }, approval.tokens.refresh_token!);
    });

    it('an update racing a rotation cannot bring the old secret back: updates never write the secret', async () => {
      const id = uniqueName('svc');
      const oldSecret = (await createClient({ client_id: id, name: 'Raced', type: 'confidential', allowed_scopes: 'profile' })).json.client_secret as string;
      const stale = (await db.store.findClient(id))!; // what an update read before the rotation
      const newSecret = (await admin('POST', `/admin/clients/${id}/secret`)).json.client_secret as string;
      expect(await db.store.updateClient({ ...stale, name: 'Raced again' })).to.equal(true);
      expect((await deviceAuthorization(id, oldSecret)).status).to.equal(401);
      expect((await deviceAuthorization(id, newSecret)).status).to.equal(200);
    });

    it('rotating the secret of a public client is 400 invalid_request (it has none)', async () => {
      const client = await makePublicClient(db.store);
      const reply = await admin('POST', `/admin/clients/${client.id}/secret`);
      expect(reply.status).to.equal(400);
      expect(reply.json.error).to.equal('invalid_request');
      expect(reply.json.error_description).to.include('public client');
    });

    it('per-client lifetimes: expires_in and the refresh token follow the client, 0 sets them back to the server setting', async () => {
      const id = uniqueName('tv');
      const created = await createClient({ client_id: id, name: 'Short TV', type: 'public', allowed_scopes: 'profile', grant_types: `${DEVICE_GRANT} ${REFRESH_GRANT}`, access_token_lifetime: '120', refresh_token_lifetime: '600' });
      expect(created.json).to.include({ access_token_lifetime: 120, refresh_token_lifetime: 600 });
      const approval = await life.approve(await deviceClient(id));
      expect(approval.tokens.expires_in).to.equal(120);
      const refreshRow = await db.knex('refresh_tokens').where({ token_hash: tokenKey(approval.tokens.refresh_token!) }).first();
      expect(Number(refreshRow.expires_at) - Number(refreshRow.created_at)).to.equal(600_000);
      server.clock.advance(121);
      await life.expectAccessRefused(approval.tokens.access_token);

      const reset = await admin('PATCH', `/admin/clients/${id}`, { access_token_lifetime: '0', refresh_token_lifetime: '0' });
      expect(reset.status, reset.text).to.equal(200);
      expect(reset.json).to.include({ access_token_lifetime: null, refresh_token_lifetime: null });
      const later = await life.approve(await deviceClient(id));
      expect(later.tokens.expires_in).to.equal(3600);
    });

    it('list, show and a partial update: absent fields keep their values', async () => {
      const id = uniqueName('tv');
      await createClient({ client_id: id, name: 'Kitchen TV', type: 'public', allowed_scopes: 'profile email', default_scopes: 'profile' });
      const list = await admin('GET', '/admin/clients');
      expect(list.status).to.equal(200);
      const listed = (list.json.clients as Array<Record<string, unknown>>).find((c) => c.client_id === id);
      expect(listed).to.include({ name: 'Kitchen TV', type: 'public', grant_types: DEVICE_GRANT });
      expect(list.text).not.to.match(/secret/);

      const updated = await admin('PATCH', `/admin/clients/${id}`, { name: 'Hall TV', access_token_lifetime: '300' });
      expect(updated.status, updated.text).to.equal(200);
      expect(updated.json).to.deep.equal({
        client_id: id,
        name: 'Hall TV',
        type: 'public',
        allowed_scopes: 'profile email',
        default_scopes: 'profile',
        grant_types: DEVICE_GRANT,
        can_introspect: false,
        access_token_lifetime: 300,
        refresh_token_lifetime: null,
      });
      expect((await admin('GET', `/admin/clients/${id}`)).json).to.deep.equal(updated.json);
      const unchanged = await admin('PATCH', `/admin/clients/${id}`, { name: 'Hall TV' });
      expect(unchanged.status, 'an update that changes nothing still finds the client').to.equal(200);
      expect(unchanged.json).to.deep.equal(updated.json);
      expect((await admin('PATCH', `/admin/clients/${id}`, { allowed_scopes: 'email', default_scopes: 'email' })).json).to.include({ name: 'Hall TV', allowed_scopes: 'email', default_scopes: 'email' });
    });

    it('a generated client_id when none is given; default scopes are then the allowed ones', async () => {
      const created = await createClient({ name: 'Anonymous TV', type: 'public', allowed_scopes: 'profile email' });
      expect(created.json.client_id).to.match(/^[0-9a-f]{32}$/);
      expect(created.json.default_scopes).to.equal('profile email');
      expect(created.json).not.to.have.property('client_secret');
    });

    it('deleting a client removes its device authorizations and tokens at once: /api/me, introspection and refresh refuse them', async () => {
      const id = uniqueName('tv');
      await createClient({ client_id: id, name: 'Doomed TV', type: 'public', allowed_scopes: 'profile', grant_types: `${DEVICE_GRANT} ${REFRESH_GRANT}` });
      const device = await deviceClient(id);
      const approval = await life.approve(device);
      const pending = await server.call('POST', '/oauth/device_authorization', { form: { client_id: id } });
      expect(pending.status).to.equal(200);
      const resource = await life.resourceServer();
      expect((await life.introspection(resource, approval.tokens.access_token)).active).to.equal(true);

      const deleted = await admin('DELETE', `/admin/clients/${id}`);
      expect(deleted.status, deleted.text).to.equal(204);

      await life.expectAccessRefused(approval.tokens.access_token);
      await life.expectInactive(resource, approval.tokens.access_token);
      await life.expectInactive(resource, approval.tokens.refresh_token!);
      const refresh = await life.refresh(device, approval.tokens.refresh_token);
      expect(refresh.status).to.equal(401);
      expect(refresh.json.error).to.equal('invalid_client');
      for (const table of ['device_authorizations', 'access_tokens', 'refresh_tokens', 'clients']) {
        const column = table === 'clients' ? 'id' : 'client_id';
        expect(await db.knex(table).where({ [column]: id }).count({ n: '*' }), table).to.deep.equal([{ n: 0 }]);
      }
      expect((await admin('GET', `/admin/clients/${id}`)).status).to.equal(404);
      expect((await admin('DELETE', `/admin/clients/${id}`)).status).to.equal(404);
    });

    it('a taken client_id is 409 conflict, and the existing client is unchanged', async () => {
      const id = uniqueName('tv');
      await createClient({ client_id: id, name: 'First', type: 'public', allowed_scopes: 'profile' });
      const again = await admin('POST', '/admin/clients', { client_id: id, name: 'Second', type: 'confidential', allowed_scopes: 'email' });
      expect(again.status).to.equal(409);
      expect(again.json.error).to.equal('conflict');
      expect(again.json.error_description).to.include(id);
      expect((await admin('GET', `/admin/clients/${id}`)).json).to.include({ name: 'First', type: 'public', allowed_scopes: 'profile' });
    });

    const invalidClients: Array<[string, Record<string, string>, string]> = [
      ['an unknown scope', { allowed_scopes: 'profile openid' }, 'allowed_scopes'],
      ['default scopes outside the allowed ones', { allowed_scopes: 'profile', default_scopes: 'email' }, 'default_scopes'],
      ['an unknown default scope', { default_scopes: 'nope' }, 'default_scopes'],
      ['a grant the token endpoint does not support', { grant_types: `${DEVICE_GRANT} client_credentials` }, 'grant_types'],
      ['an access token lifetime under 60 s', { access_token_lifetime: '59' }, 'access_token_lifetime'],
      ['a refresh token lifetime over a year', { refresh_token_lifetime: String(366 * 86400 + 1) }, 'refresh_token_lifetime'],
      ['a lifetime that is not a number', { access_token_lifetime: 'soon' }, 'access_token_lifetime'],
      ['a type that does not exist', { type: 'secret' }, 'type'],
      ['a client_id with a space', { client_id: 'my tv' }, 'client_id'],
      ['a client_id over 128 characters', { client_id: 'x'.repeat(129) }, 'client_id'],
      ['a name with a control character', { name: 'TV\u0007' }, 'name'],
      ['can_introspect on a public client', { can_introspect: 'true' }, 'can_introspect'],
      ['no name', { name: '' }, 'name'],
      ['no allowed scopes', { allowed_scopes: '' }, 'allowed_scopes'],
    ];
    for (const [what, change, field] of invalidClients) {
      it(`create: ${what} is 400 invalid_request naming ${field}, and nothing is stored`, async () => {
        const id = uniqueName('bad');
        const form = { client_id: id, name: 'TV', type: 'public', allowed_scopes: 'profile email', ...change };
        const reply = await admin('POST', '/admin/clients', Object.fromEntries(Object.entries(form).filter(([, v]) => v !== '')));
        expect(reply.status, reply.text).to.equal(400);
        expect(reply.json.error).to.equal('invalid_request');
        expect(reply.json.error_description).to.include(field);
        expect(await db.store.findClient(form.client_id)).to.equal(undefined);
      });
    }

    it('update: an invalid field is 400 naming it, and the client is unchanged', async () => {
      const id = uniqueName('tv');
      const before = (await createClient({ client_id: id, name: 'Stable TV', type: 'public', allowed_scopes: 'profile' })).json;
      const reply = await admin('PATCH', `/admin/clients/${id}`, { name: 'Renamed', default_scopes: 'email' });
      expect(reply.status).to.equal(400);
      expect(reply.json.error_description).to.include('default_scopes');
      expect((await admin('GET', `/admin/clients/${id}`)).json).to.deep.equal(before);
    });

    it('an unknown client is 404 not_found for show, update, rotate-secret and delete', async () => {
      for (const [method, path, form] of [
        ['GET', '/admin/clients/no-such-client', undefined],
        ['PATCH', '/admin/clients/no-such-client', { name: 'x' }],
        ['POST', '/admin/clients/no-such-client/secret', undefined],
        ['DELETE', '/admin/clients/no-such-client', undefined],
      ] as const) {
        const reply = await admin(method, path, form);
        expect(reply.status, `${method} ${path}`).to.equal(404);
        expect(reply.json.error).to.equal('not_found');
        expect(reply.json.error_description).to.include('no-such-client');
      }
    });

    it('a client_id path segment over 128 characters is 400 invalid_request naming client_id', async () => {
      for (const [method, path] of [
        ['GET', ''],
        ['DELETE', ''],
        ['POST', '/secret'],
      ] as const) {
        const reply = await admin(method, `/admin/clients/${'x'.repeat(129)}${path}`);
        expect(reply.status, `${method} ${path}`).to.equal(400);
        expect(reply.json.error_description).to.include('client_id');
      }
    });
  });

  describe('users', () => {
    async function createUser(form: Record<string, string>): Promise<Reply> {
      const reply = await admin('POST', '/admin/users', form);
      expect(reply.status, reply.text).to.equal(201);
      return reply;
    }

    it('create with a password: 201 without the password; the person signs in with it; list and show', async () => {
      const username = uniqueName('alice');
      const created = await createUser({ username, name: 'Alice', email: `${username}@example.test`, password: TEST_PASSWORD });
      expect(created.json).to.deep.equal({ user_id: created.json.user_id, username, name: 'Alice', email: `${username}@example.test`, disabled: false });
      expect(created.text).not.to.include(TEST_PASSWORD);
      expect((await new BrowserSession(server.url).signIn(username, TEST_PASSWORD)).status).to.equal(303);
      const row = await db.knex('users').where({ username }).first();
      expect(row.password_hash).to.match(/^scrypt\$/);

      const shown = await admin('GET', `/admin/users/${created.json.user_id}`);
      expect(shown.status).to.equal(200);
      expect(shown.json).to.deep.equal(created.json);
      const list = await admin('GET', '/admin/users');
      expect(list.status).to.equal(200);
      expect(list.json.users).to.deep.include(created.json);
      expect(list.text).not.to.include('scrypt');
    });

    it('create without a password: one is generated, returned once, and signs in', async () => {
      const username = uniqueName('bob');
      const created = await createUser({ username, name: 'Bob' });
      const password = created.json.password as string;
      expect(password).to.be.a('string').with.length.at.least(20);
      expect(created.json.email).to.equal(null);
      expect((await new BrowserSession(server.url).signIn(username, password)).status).to.equal(303);
      expect((await admin('GET', `/admin/users/${created.json.user_id}`)).json).not.to.have.property('password');
    });

    it('disable: the person\'s access tokens stop working at once and their sessions end; enable lets them in again', async () => {
      const person = await life.person();
      const approval = await life.approve(await life.refreshingClient(), { person, scope: 'profile' });
      await life.expectAccessWorks(approval.tokens.access_token, approval);
      expect(await db.knex('sessions').where({ user_id: person.person.id }).count({ n: '*' })).to.deep.equal([{ n: 1 }]);

      const disabled = await admin('POST', `/admin/users/${person.person.id}/disable`);
      expect(disabled.status, disabled.text).to.equal(200);
      expect(disabled.json.disabled).to.equal(true);
      await life.expectAccessRefused(approval.tokens.access_token);
      expect(await db.knex('sessions').where({ user_id: person.person.id }).count({ n: '*' })).to.deep.equal([{ n: 0 }]);
      const page = await person.browser.get('/account/devices');
      expect(page.status, 'the old session no longer signs in').to.equal(303);
      expect((await life.refresh(approval.device, approval.tokens.refresh_token)).json.error).to.equal('invalid_grant');

      const enabled = await admin('POST', `/admin/users/${person.person.id}/enable`);
      expect(enabled.status).to.equal(200);
      expect(enabled.json.disabled).to.equal(false);
      await life.expectAccessWorks(approval.tokens.access_token, approval);
      expect((await new BrowserSession(server.url).signIn(person.person.username, TEST_PASSWORD)).status).to.equal(303);
    });

    it('reset-password: the old password fails sign-in afterwards, the new one works, and sessions end', async () => {
      const user = await makeUser(db.store);
      const session = new BrowserSession(server.url);
      expect((await session.signIn(user.username, TEST_PASSWORD)).status).to.equal(303);

      const given = await admin('POST', `/admin/users/${user.id}/password`, { password: 'a brand new password' });
      expect(given.status, given.text).to.equal(200);
      expect(given.json).to.deep.equal({ user_id: user.id });
      expect((await new BrowserSession(server.url).signIn(user.username, TEST_PASSWORD)).status).to.equal(401);
      expect((await new BrowserSession(server.url).signIn(user.username, 'a brand new password')).status).to.equal(303);
      expect((await session.get('/account/devices')).status, 'the session from before the reset has ended').to.equal(303);

      const generated = await admin('POST', `/admin/users/${user.id}/password`, {});
      expect(generated.status).to.equal(200);
      const password = generated.json.password as string;
      expect(password).to.be.a('string').with.length.at.least(20);
      expect((await new BrowserSession(server.url).signIn(user.username, 'a brand new password')).status).to.equal(401);
      expect((await new BrowserSession(server.url).signIn(user.username, password)).status).to.equal(303);
    });

    it('a taken username is 409 conflict', async () => {
      const user = await makeUser(db.store);
      const reply = await admin('POST', '/admin/users', { username: user.username, name: 'Impostor', password: TEST_PASSWORD });
      expect(reply.status).to.equal(409);
      expect(reply.json.error).to.equal('conflict');
      expect((await db.store.findUserByUsername(user.username))?.name).to.equal(user.name);
    });

    const invalidUsers: Array<[string, Record<string, string>, string]> = [
      ['a username with a space', { username: 'al ice' }, 'username'],
      ['a username over 128 characters', { username: 'a'.repeat(129) }, 'username'],
      ['no name', { name: '' }, 'name'],
      ['an email without @', { email: 'alice.example.test' }, 'email'],
      ['a password under 8 characters', { password: 'short' }, 'password'],
    ];
    for (const [what, change, field] of invalidUsers) {
      it(`create: ${what} is 400 invalid_request naming ${field}`, async () => {
        const form = { username: uniqueName('user'), name: 'Person', ...change };
        const reply = await admin('POST', '/admin/users', Object.fromEntries(Object.entries(form).filter(([, v]) => v !== '')));
        expect(reply.status, reply.text).to.equal(400);
        expect(reply.json.error_description).to.include(field);
      });
    }

    it('reset-password: a password under 8 characters is 400 naming password, and the old one still works', async () => {
      const user = await makeUser(db.store);
      const reply = await admin('POST', `/admin/users/${user.id}/password`, { password: 'short' });
      expect(reply.status).to.equal(400);
      expect(reply.json.error_description).to.include('password');
      expect((await new BrowserSession(server.url).signIn(user.username, TEST_PASSWORD)).status).to.equal(303);
    });

    it('an unknown user is 404 not_found for show, disable, enable and reset-password', async () => {
      for (const [method, path, form] of [
        ['GET', '/admin/users/no-such-user', undefined],
        ['POST', '/admin/users/no-such-user/disable', undefined],
        ['POST', '/admin/users/no-such-user/enable', undefined],
        ['POST', '/admin/users/no-such-user/password', { password: TEST_PASSWORD }],
      ] as const) {
        const reply = await admin(method, path, form);
        expect(reply.status, `${method} ${path}`).to.equal(404);
        expect(reply.json.error).to.equal('not_found');
      }
    });

    it('a user_id path segment over 64 characters is 400 invalid_request naming user_id', async () => {
      for (const path of ['', '/disable', '/enable', '/password']) {
        const reply = await admin(path ? 'POST' : 'GET', `/admin/users/${'u'.repeat(65)}${path}`, path === '/password' ? {} : undefined);
        expect(reply.status, path).to.equal(400);
        expect(reply.json.error_description).to.include('user_id');
      }
    });
  });

  describe('admin tokens', () => {
    const operations = adminOperations();

    it('the spec has the admin operations, each behind adminToken only', () => {
      expect(operations.map((op) => op.operationId)).to.include.members(['adminCreateClient', 'adminRotateClientSecret', 'adminDeleteClient', 'adminCreateUser', 'adminDisableUser', 'adminResetUserPassword']);
    });

    for (const op of operations) {
      it(`${op.operationId}: no token is 401 with a bare Bearer challenge; a wrong token 401 invalid_token`, async () => {
        const path = op.path.replace(/\{[^}]+\}/g, 'some-id');
        const form = op.form ? { name: 'x' } : undefined;
        const none = await server.call(op.method, path, form ? { form } : {});
        expect(none.status).to.equal(401);
        expect(none.headers.get('www-authenticate')).to.match(/^Bearer realm="[^"]+"$/);
        const wrong = await server.call(op.method, path, { headers: adminAuth(`${ADMIN_TOKEN}x`), ...(form ? { form } : {}) });
        expect(wrong.status).to.equal(401);
        expect(wrong.json.error).to.equal('invalid_token');
        expect(wrong.headers.get('www-authenticate')).to.match(/^Bearer realm="[^"]+", error="invalid_token"/);
      });
    }

    it('an OAuth access token is not an admin token', async () => {
      const approval = await life.approve(await life.refreshingClient());
      const reply = await server.call('GET', '/admin/clients', { headers: adminAuth(approval.tokens.access_token) });
      expect(reply.status).to.equal(401);
      expect(reply.json.error).to.equal('invalid_token');
    });

    it('rotation: every configured token works, newest and older', async () => {
      expect((await admin('GET', '/admin/clients', undefined, ADMIN_TOKEN)).status).to.equal(200);
      expect((await admin('GET', '/admin/clients', undefined, OLD_ADMIN_TOKEN)).status).to.equal(200);
    });

    it('without configured admin tokens the admin API is off: every operation is 401 invalid_token saying it is not configured', async () => {
      const off = await startServer(db.store);
      try {
        for (const op of operations) {
          const path = op.path.replace(/\{[^}]+\}/g, 'some-id');
          const reply = await off.call(op.method, path, { headers: adminAuth(), ...(op.form ? { form: { name: 'x' } } : {}) });
          expect(reply.status, op.operationId).to.equal(401);
          expect(reply.json.error).to.equal('invalid_token');
          expect(reply.json.error_description).to.equal(ADMIN_API_DISABLED);
          expect(reply.json.error_description).to.include('not configured');
        }
      } finally {
        await off.close();
      }
    });
  });
});
