/**
 * The standalone server (`npm start`) as a real child process: what it prints, what it seeds,
 * how it refuses a bad configuration, and how it stops.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ADMIN_API_DISABLED } from '../../src/auth/admin-token';
import { openDatabase, parseDatabaseUrl } from '../../src/storage/database';
import { TestDatabase } from '../support/databases';
import { basic, BrowserSession, request } from '../support/http';
import { freePort, serverEnv, ServerProcess } from '../support/process';
import { DEVICE_GRANT } from '../support/server';

/** The last line of the banner with demo data, and of the banner without. */
const DEMO_BANNER_END = /device_code=\.\.\. \S+\/oauth\/token\s*$/m;
const BANNER_END = /^\s+activate:\s+\S+\/activate\s*$/m;

const TABLES = ['clients', 'users', 'device_authorizations', 'access_tokens', 'sessions'];

describe('standalone server (npm start)', function () {
  this.timeout(90_000);

  const children: ServerProcess[] = [];
  const dirs: string[] = [];

  function tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'o2d-start-'));
    dirs.push(dir);
    return dir;
  }

  function startProcess(cwd: string, env: Record<string, string>): ServerProcess {
    const child = new ServerProcess(cwd, serverEnv(env));
    children.push(child);
    return child;
  }

  after(async () => {
    for (const child of children) {
      if (!child.exit) {
        child.forceKill();
        await child.waitForExit(5_000).catch(() => undefined);
      }
    }
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  describe('the embedded default', () => {
    let cwd: string;
    let port: number;
    let url: string;
    let child: ServerProcess;
    let banner: string;
    let secret: string;
    let username: string;
    let password: string;

    before(async () => {
      cwd = tempDir();
      port = await freePort();
      url = `http://127.0.0.1:${port}`;
      child = startProcess(cwd, { PORT: String(port), HOST: '127.0.0.1' });
      await child.waitForOutput(DEMO_BANNER_END);
      banner = child.stdout;
    });
    after(() => {
      if (!child.exit) child.forceKill();
    });

    it('prints the URL it listens on', () => {
      expect(banner).to.include(`oauth2-devices is listening on http://localhost:${port}\n`);
      expect(banner).to.include(`http://localhost:${port}/.well-known/oauth-authorization-server`);
    });

    it('keeps its SQLite file and its generated secret key in ./data of the working directory', () => {
      expect(banner).to.include(`SQLite ${join(cwd, 'data', 'oauth2-devices.sqlite')}`);
      expect(existsSync(join(cwd, 'data', 'oauth2-devices.sqlite'))).to.equal(true);
      const keys = readFileSync(join(cwd, 'data', 'secret-keys'), 'utf8').trim();
      expect(keys.length).to.be.at.least(32);
    });

    it('prints both demo client ids, the confidential secret and the demo credentials', () => {
      expect(banner).to.match(/public client:\s+demo-tv\n/);
      const confidential = /confidential client:\s+demo-service\s+secret: (\S+)\n/.exec(banner);
      expect(confidential, 'the confidential client line').to.not.equal(null);
      secret = confidential![1]!;
      const user = /\buser:\s+(\S+)\s+password: (\S+)\n/.exec(banner);
      expect(user, 'the demo user line').to.not.equal(null);
      username = user![1]!;
      password = user![2]!;
      expect(username).to.equal('demo');
      expect(password.length).to.be.at.least(8);
    });

    it('the printed public client can start a device flow (RFC 8628 §3.1)', async () => {
      const reply = await request(url, 'POST', '/oauth/device_authorization', { form: { client_id: 'demo-tv', scope: 'profile email' } });
      expect(reply.status).to.equal(200);
      expect(reply.json.verification_uri).to.equal(`http://localhost:${port}/activate`);
    });

    it('the printed confidential secret authenticates demo-service (RFC 6749 §2.3.1)', async () => {
      const good = await request(url, 'POST', '/oauth/device_authorization', { form: {}, headers: { authorization: basic('demo-service', secret) } });
      expect(good.status).to.equal(200);
      const bad = await request(url, 'POST', '/oauth/device_authorization', { form: {}, headers: { authorization: basic('demo-service', `${secret}x`) } });
      expect(bad.status).to.equal(401);
    });

    it('the printed user and password can sign in, approve a device, and the device reads /api/me', async () => {
      const wrong = await new BrowserSession(url).signIn(username, `${password}-wrong`);
      expect(wrong.status).to.equal(401);

      const authorization = await request(url, 'POST', '/oauth/device_authorization', { form: { client_id: 'demo-tv', scope: 'profile email' } });
      const browser = new BrowserSession(url);
      const signedIn = await browser.signIn(username, password);
      expect(signedIn.status).to.equal(303);
      expect(signedIn.headers.get('location')).to.equal('/activate');
      expect((await browser.decide(authorization.json.user_code, 'approve')).status).to.equal(200);
      const token = await request(url, 'POST', '/oauth/token', {
        form: { grant_type: DEVICE_GRANT, client_id: 'demo-tv', device_code: authorization.json.device_code },
      });
      expect(token.status).to.equal(200);
      const me = await request(url, 'GET', '/api/me', { headers: { authorization: `Bearer ${token.json.access_token}` } });
      expect(me.status).to.equal(200);
      expect(me.json).to.deep.include({ sub: 'demo-user', username: 'demo', name: 'Demo User', email: 'demo@example.com', client_id: 'demo-tv' });
    });

    it('generates an admin token in data/admin-token (mode 0600), prints it, and it opens the admin API', async () => {
      const file = join(cwd, 'data', 'admin-token');
      const token = readFileSync(file, 'utf8').trim();
      expect(statSync(file).mode & 0o777).to.equal(0o600);
      expect(token.length).to.be.at.least(32);
      expect(banner).to.include(`admin API:  http://localhost:${port}/admin`);
      expect(banner).to.include(token);
      const list = await request(url, 'GET', '/admin/clients', { headers: { authorization: `Bearer ${token}` } });
      expect(list.status).to.equal(200);
      expect(list.json.clients.map((c: { client_id: string }) => c.client_id)).to.include.members(['demo-tv', 'demo-service']);
      expect((await request(url, 'GET', '/admin/clients', { headers: { authorization: `Bearer ${token}x` } })).status).to.equal(401);
    });

    it('SIGTERM makes it stop and exit 0', async () => {
      child.terminate();
      const exit = await child.waitForExit();
      expect(exit).to.deep.equal({ code: 0, signal: null });
      expect(child.stdout).to.include('SIGTERM');
      // Nothing listens on the port any more.
      let refused = false;
      await fetch(`${url}/.well-known/oauth-authorization-server`).catch(() => (refused = true));
      expect(refused).to.equal(true);
    });

    it('a restart on the same data keeps the key and prints new demo secrets; the old ones stop working', async () => {
      const keysBefore = readFileSync(join(cwd, 'data', 'secret-keys'), 'utf8');
      const again = startProcess(cwd, { PORT: String(port), HOST: '127.0.0.1', OAUTH2_ATTEMPT_BACKOFF: '0' }) // the old password fails once on purpose;
      try {
        await again.waitForOutput(DEMO_BANNER_END);
        expect(readFileSync(join(cwd, 'data', 'secret-keys'), 'utf8')).to.equal(keysBefore);
        const newSecret = /secret: (\S+)\n/.exec(again.stdout)![1]!;
        const newPassword = /password: (\S+)\n/.exec(again.stdout)![1]!;
        expect(newSecret).not.to.equal(secret);
        expect(newPassword).not.to.equal(password);
        const oldSecret = await request(url, 'POST', '/oauth/device_authorization', { form: {}, headers: { authorization: basic('demo-service', secret) } });
        expect(oldSecret.status).to.equal(401);
        const fresh = await request(url, 'POST', '/oauth/device_authorization', { form: {}, headers: { authorization: basic('demo-service', newSecret) } });
        expect(fresh.status).to.equal(200);
        expect((await new BrowserSession(url).signIn('demo', password)).status).to.equal(401);
        expect((await new BrowserSession(url).signIn('demo', newPassword)).status).to.equal(303);
      } finally {
        again.terminate();
        expect((await again.waitForExit()).code).to.equal(0);
      }
    });
  });

  it('with DATABASE_URL and OAUTH2_SECRET_KEYS it starts but seeds no demo data', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const file = join(cwd, 'other.sqlite');
    const child = startProcess(cwd, {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${file}`,
      OAUTH2_SECRET_KEYS: 'a-production-key-0123456789abcdefghijklmnop',
    });
    try {
      await child.waitForOutput(BANNER_END);
      expect(child.stdout).to.include(`SQLite ${file}`);
      expect(child.stdout).not.to.include('demo-tv');
      expect(child.stdout).not.to.include('demo-service');
      expect(child.stdout).not.to.include('password');
      const url = `http://127.0.0.1:${port}`;
      expect((await request(url, 'GET', '/.well-known/oauth-authorization-server')).status).to.equal(200);
      const demo = await request(url, 'POST', '/oauth/device_authorization', { form: { client_id: 'demo-tv' } });
      expect(demo.status).to.equal(401);
      expect(demo.json.error).to.equal('invalid_client');
      // No OAUTH2_ADMIN_TOKENS: the admin API is off, says so, and no token file is made.
      expect(child.stdout).to.include('admin API:  off');
      const admin = await request(url, 'GET', '/admin/clients', { headers: { authorization: `Bearer ${'x'.repeat(40)}` } });
      expect(admin.status).to.equal(401);
      expect(admin.json.error_description).to.equal(ADMIN_API_DISABLED);
    } finally {
      child.terminate();
      expect((await child.waitForExit()).code).to.equal(0);
    }
    expect(existsSync(join(cwd, 'data')), 'the embedded default was not created').to.equal(false);
    const knex = openDatabase(parseDatabaseUrl(`sqlite:${file}`));
    try {
      for (const table of TABLES) expect(await knex.schema.hasTable(table), `table ${table}`).to.equal(true);
      expect(await knex('clients').count({ n: '*' })).to.deep.equal([{ n: 0 }]);
      expect(await knex('users').count({ n: '*' })).to.deep.equal([{ n: 0 }]);
    } finally {
      await knex.destroy();
    }
  });

  it('with DATABASE_URL and OAUTH2_ADMIN_TOKENS the admin API takes those tokens, and the banner does not print them', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const token = 'an-operator-admin-token-0123456789abcdefghij';
    const child = startProcess(cwd, {
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(cwd, 'admin.sqlite')}`,
      OAUTH2_SECRET_KEYS: 'a-production-key-0123456789abcdefghijklmnop',
      OAUTH2_ADMIN_TOKENS: `${token},an-older-admin-token-0123456789abcdefghijk`,
    });
    try {
      await child.waitForOutput(BANNER_END);
      expect(child.stdout).to.include('tokens from OAUTH2_ADMIN_TOKENS');
      expect(child.stdout).not.to.include(token);
      const url = `http://127.0.0.1:${port}`;
      const created = await request(url, 'POST', '/admin/clients', { form: { name: 'TV', type: 'public', allowed_scopes: 'profile' }, headers: { authorization: `Bearer ${token}` } });
      expect(created.status, created.text).to.equal(201);
      expect((await request(url, 'POST', '/oauth/device_authorization', { form: { client_id: created.json.client_id } })).status).to.equal(200);
    } finally {
      child.terminate();
      expect((await child.waitForExit()).code).to.equal(0);
    }
    expect(existsSync(join(cwd, 'data')), 'no admin-token file with configured tokens').to.equal(false);
  });

  it('an OAUTH2_ADMIN_TOKENS token shorter than 32 characters makes it exit non-zero naming the variable', async () => {
    const cwd = tempDir();
    const child = startProcess(cwd, { PORT: String(await freePort()), HOST: '127.0.0.1', OAUTH2_ADMIN_TOKENS: 'short-admin-token' });
    const exit = await child.waitForExit();
    expect(exit.code).to.be.a('number').and.not.equal(0);
    expect(child.stderr).to.include('configuration error');
    expect(child.stderr).to.include('OAUTH2_ADMIN_TOKENS');
    expect(child.stderr).not.to.include('short-admin-token');
  });

  it('with DATABASE_URL but no OAUTH2_SECRET_KEYS it exits non-zero with a configuration error', async () => {
    const cwd = tempDir();
    const child = startProcess(cwd, { PORT: String(await freePort()), HOST: '127.0.0.1', DATABASE_URL: `sqlite:${join(cwd, 'db.sqlite')}` });
    const exit = await child.waitForExit();
    expect(exit.code).to.be.a('number').and.not.equal(0);
    expect(child.stderr).to.include('configuration error');
    expect(child.stderr).to.include('OAUTH2_SECRET_KEYS');
    expect(child.stdout).not.to.include('listening');
  });

  it('with DATABASE_URL and a secret key shorter than 32 characters it exits non-zero naming OAUTH2_SECRET_KEYS', async () => {
    const cwd = tempDir();
    const child = startProcess(cwd, {
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(cwd, 'db.sqlite')}`,
      OAUTH2_SECRET_KEYS: 'too-short',
    });
    const exit = await child.waitForExit();
    expect(exit.code).to.be.a('number').and.not.equal(0);
    expect(child.stderr).to.include('configuration error');
    expect(child.stderr).to.include('OAUTH2_SECRET_KEYS');
  });

  it('OAUTH2_POLL_INTERVAL=abc makes it exit non-zero naming the variable', async () => {
    const cwd = tempDir();
    const child = startProcess(cwd, { PORT: String(await freePort()), HOST: '127.0.0.1', OAUTH2_POLL_INTERVAL: 'abc' });
    const exit = await child.waitForExit();
    expect(exit.code).to.be.a('number').and.not.equal(0);
    expect(child.stderr).to.include('configuration error');
    expect(child.stderr).to.include('OAUTH2_POLL_INTERVAL');
    expect(child.stdout).not.to.include('listening');
    expect(existsSync(join(cwd, 'data')), 'no database was created').to.equal(false);
  });

  it('a DATABASE_URL of an unknown kind makes it exit non-zero with a configuration error', async () => {
    const cwd = tempDir();
    const child = startProcess(cwd, { PORT: String(await freePort()), HOST: '127.0.0.1', DATABASE_URL: 'postgres://db/x', OAUTH2_SECRET_KEYS: 'k'.repeat(40) });
    const exit = await child.waitForExit();
    expect(exit.code).to.be.a('number').and.not.equal(0);
    expect(child.stderr).to.include('configuration error');
    expect(child.stderr).to.include('DATABASE_URL');
  });

  it('RFC 9068: OAUTH2_ACCESS_TOKEN_FORMAT=jwt on the embedded default generates a private signing key and publishes it', async () => {
    const cwd = tempDir();
    const port = await freePort();
    const child = startProcess(cwd, { PORT: String(port), HOST: '127.0.0.1', OAUTH2_ACCESS_TOKEN_FORMAT: 'jwt' });
    try {
      await child.waitForOutput(DEMO_BANNER_END);
      const keyFile = join(cwd, 'data', 'jwt-signing-key.pem');
      expect(readFileSync(keyFile, 'utf8')).to.include('BEGIN PRIVATE KEY');
      expect(statSync(keyFile).mode & 0o777).to.equal(0o600);
      const jwks = await request(`http://127.0.0.1:${port}`, 'GET', '/.well-known/jwks.json');
      expect(jwks.json.keys).to.have.length(1);
      expect(jwks.json.keys[0]).to.include({ kty: 'RSA', alg: 'RS256', use: 'sig' });
      expect(jwks.json.keys[0]).not.to.have.property('d'); // never the private part
    } finally {
      child.terminate();
      await child.waitForExit();
    }
  });

  it('JWT access tokens with DATABASE_URL need OAUTH2_JWT_KEY_FILES', async () => {
    const cwd = tempDir();
    const child = startProcess(cwd, {
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      DATABASE_URL: `sqlite:${join(cwd, 'db.sqlite')}`,
      OAUTH2_SECRET_KEYS: 'k'.repeat(40),
      OAUTH2_ACCESS_TOKEN_FORMAT: 'jwt',
    });
    const exit = await child.waitForExit();
    expect(exit.code).to.be.a('number').and.not.equal(0);
    expect(child.stderr).to.include('OAUTH2_JWT_KEY_FILES');
  });

  if (process.env.MYSQL_URL) {
    describe('[mysql] with DATABASE_URL=mysql://', () => {
      const db = new TestDatabase('mysql');
      before(async function () {
        this.timeout(60_000);
        await db.setup();
        await db.knex.migrate.rollback(undefined, true); // the server must migrate it itself
      });
      after(async () => db.teardown());

      it('migrates the database, serves, and seeds no demo data', async () => {
        const cwd = tempDir();
        const port = await freePort();
        const child = startProcess(cwd, { PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url, OAUTH2_SECRET_KEYS: 'a-production-key-0123456789abcdefghijklmnop' });
        try {
          await child.waitForOutput(BANNER_END);
          expect(child.stdout).to.match(/database:\s+MySQL\n/);
          expect(child.stdout).not.to.include('demo-tv');
          const demo = await request(`http://127.0.0.1:${port}`, 'POST', '/oauth/device_authorization', { form: { client_id: 'demo-tv' } });
          expect(demo.status).to.equal(401);
        } finally {
          child.terminate();
          expect((await child.waitForExit()).code).to.equal(0);
        }
        for (const table of TABLES) expect(await db.knex.schema.hasTable(table), `table ${table}`).to.equal(true);
        expect(await db.knex('clients').count({ n: '*' })).to.deep.equal([{ n: 0 }]);
        expect(await db.knex('users').count({ n: '*' })).to.deep.equal([{ n: 0 }]);
      });
    });
  }
});
