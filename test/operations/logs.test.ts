/**
 * The logs of the real server process (src/main.ts): one JSON line per request with its id,
 * operation, status and duration, and never a secret. A whole flow runs with every secret
 * this server knows of (client secrets, a password, device code, user code typed, linked and
 * in the QR endpoint, access and refresh tokens, cookies, CSRF tokens), then every byte of
 * stdout and stderr is searched for each of them, raw and URL-encoded. Request ids: a trusted,
 * well-formed X-Request-Id is echoed and logged, anything else is replaced; the in-process
 * tests check the same with a logger of their own.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { expect } from 'chai';
import { createLogger } from '../../src/logging';
import { forEachDatabase, TestDatabase } from '../support/databases';
import { basic, BrowserSession, request, type Reply, type RequestOptions } from '../support/http';
import { freePort, serverEnv, ServerProcess } from '../support/process';
import { DEVICE_GRANT, makeConfidentialClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';
import { REFRESH_GRANT } from '../tokens/lifecycle';

const LISTENING = /^\s+activate:\s+\S+\/activate\s*$/m;
const SECRET_KEYS = 'logs-test-key-0123456789abcdefghijklmnopqrstuvwxyz';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface RequestLine {
  level: string;
  msg: string;
  reqId: string;
  method: string;
  path: string;
  operation: string;
  status: number;
  durationMs: number;
  ip: string;
}

/** Each secret, and the forms it takes in URLs and form bodies. */
function encodings(secret: string): string[] {
  return [...new Set([secret, encodeURIComponent(secret), encodeURIComponent(secret).replace(/%20/g, '+'), Buffer.from(secret).toString('base64')])];
}

forEachDatabase('logs of the real server process', (db) => {
  let cwd: string;
  let server: ServerProcess | undefined;
  let url: string;
  /** The X-Request-Id of every response the test received, in order. */
  const answered: string[] = [];
  const secrets = new Map<string, string>();

  before(async function () {
    this.timeout(60_000);
    cwd = mkdtempSync(join(tmpdir(), 'o2d-logs-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = new ServerProcess(
      cwd,
      serverEnv({
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        OAUTH2_SECRET_KEYS: SECRET_KEYS,
        OAUTH2_POLL_INTERVAL: '1',
        OAUTH2_TRUST_REQUEST_ID: 'true',
        OAUTH2_LOG_LEVEL: 'info',
      }),
    );
    await server.waitForOutput(LISTENING);
  });

  after(async () => {
    server?.forceKill();
    await server?.waitForExit().catch(() => undefined);
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  async function call(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
    const reply = await request(url, method, path, options);
    answered.push(reply.headers.get('x-request-id') ?? '(none)');
    return reply;
  }

  /** A BrowserSession whose every request is counted. */
  class CountedBrowser extends BrowserSession {
    override async send(method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
      const reply = await super.send(method, path, options);
      answered.push(reply.headers.get('x-request-id') ?? '(none)');
      return reply;
    }
  }

  function remember(name: string, value: string | undefined | null): void {
    expect(value, name).to.be.a('string').and.not.equal('');
    secrets.set(name, value!);
  }

  it('a whole flow with every kind of secret: no log line carries one, and each request made exactly one JSON line', async function () {
    this.timeout(60_000);
    const device = await makeConfidentialClient(db.store, { grantTypes: [DEVICE_GRANT, REFRESH_GRANT] });
    const resource = await makeConfidentialClient(db.store, { name: 'Photo API', canIntrospect: true });
    const person = await makeUser(db.store);
    remember('device client secret', device.secret);
    remember('resource server secret', resource.secret);
    remember('password', TEST_PASSWORD);

    // The device asks, authenticated with HTTP Basic.
    const started = await call('POST', '/oauth/device_authorization', { form: { scope: 'profile' }, headers: { authorization: basic(device.client.id, device.secret) } });
    expect(started.status, started.text).to.equal(200);
    remember('device code', started.json.device_code);
    remember('user code', started.json.user_code);
    remember('user code without its dash', started.json.user_code.replace('-', ''));
    expect((await call('GET', '/activate/qr', { query: { user_code: started.json.user_code } })).status).to.equal(200);

    // The person signs in with a password and follows the link with the code in it.
    const browser = new CountedBrowser(url);
    const signInPage = await browser.get('/signin');
    remember('csrf token', BrowserSession.csrf(signInPage));
    expect((await browser.post('/signin', { csrf_token: BrowserSession.csrf(signInPage), username: person.username, password: TEST_PASSWORD })).status).to.equal(303);
    remember('session cookie', browser.cookie('o2d_session'));
    const linked = await browser.get('/activate', { user_code: started.json.user_code });
    expect(linked.status, linked.text).to.equal(200);
    // ... and types it too, in lower case without the dash.
    const form = await browser.get('/activate');
    const confirm = await browser.post('/activate', { csrf_token: BrowserSession.csrf(form), user_code: started.json.user_code.replace('-', '').toLowerCase() });
    expect(confirm.status, confirm.text).to.equal(200);
    const decided = await browser.post('/activate/decision', { csrf_token: BrowserSession.csrf(confirm), user_code: started.json.user_code, decision: 'approve' });
    expect(decided.status, decided.text).to.equal(200);

    // The device exchanges its code (the secret in the body this time), uses, refreshes, revokes.
    const tokens = await call('POST', '/oauth/token', {
      form: { grant_type: DEVICE_GRANT, client_id: device.client.id, client_secret: device.secret, device_code: started.json.device_code },
    });
    expect(tokens.status, tokens.text).to.equal(200);
    remember('access token', tokens.json.access_token);
    remember('refresh token', tokens.json.refresh_token);
    expect((await call('GET', '/api/me', { headers: { authorization: `Bearer ${tokens.json.access_token}` } })).status).to.equal(200);
    const refreshed = await call('POST', '/oauth/token', {
      form: { grant_type: REFRESH_GRANT, refresh_token: tokens.json.refresh_token },
      headers: { authorization: basic(device.client.id, device.secret) },
    });
    expect(refreshed.status, refreshed.text).to.equal(200);
    remember('second access token', refreshed.json.access_token);
    remember('second refresh token', refreshed.json.refresh_token);
    const introspected = await call('POST', '/oauth/introspect', {
      form: { token: refreshed.json.access_token },
      headers: { authorization: basic(resource.client.id, resource.secret) },
    });
    expect(introspected.json.active).to.equal(true);
    const revoked = await call('POST', '/oauth/revoke', {
      form: { token: refreshed.json.refresh_token, token_type_hint: 'refresh_token', client_id: device.client.id, client_secret: device.secret },
    });
    expect(revoked.status).to.equal(200);
    // Errors are logged too: a wrong secret, a replayed code, a wrong password.
    expect((await call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: device.client.id, client_secret: `${device.secret}x`, device_code: started.json.device_code } })).status).to.equal(401);
    expect((await call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: device.client.id, client_secret: device.secret, device_code: started.json.device_code } })).status).to.equal(400);
    expect((await browser.post('/signin', { csrf_token: BrowserSession.csrf(signInPage), username: person.username, password: `${TEST_PASSWORD}!` })).status).to.equal(401);

    // Request ids: a trusted, well-formed one is kept; a malformed one is replaced.
    const traced = await call('GET', '/healthz', { headers: { 'x-request-id': 'lb-7f3a.trace:42_x' } });
    expect(traced.headers.get('x-request-id')).to.equal('lb-7f3a.trace:42_x');
    for (const bad of ['has space', 'x'.repeat(129), 'semi;colon', '<script>']) {
      const replaced = await call('GET', '/healthz', { headers: { 'x-request-id': bad } });
      expect(replaced.headers.get('x-request-id')).to.match(UUID);
    }
    const failing = await call('GET', '/no/such/path', { headers: { 'x-request-id': 'error-path-1' } });
    expect(failing.status).to.equal(404);
    expect(failing.headers.get('x-request-id')).to.equal('error-path-1');

    // Stop the server so that every line is written, then read everything it wrote.
    server!.terminate();
    await server!.waitForExit();
    const output = `${server!.stdout}\n${server!.stderr}`;
    for (const [name, secret] of secrets) {
      for (const form of encodings(secret)) expect(output.includes(form), `the logs contain the ${name} (as ${JSON.stringify(form)})`).to.equal(false);
    }

    const jsonLines = server!.stdout.split('\n').filter((line) => line.startsWith('{'));
    const parsed = jsonLines.map((line) => JSON.parse(line) as RequestLine);
    const requestLines = parsed.filter((line) => line.msg === 'request');
    expect(requestLines.map((l) => l.reqId)).to.deep.equal(answered);
    for (const line of requestLines) {
      // Exactly these fields: nothing from the query, the body or the headers.
      expect(line).to.have.all.keys('level', 'time', 'pid', 'hostname', 'reqId', 'method', 'path', 'operation', 'status', 'durationMs', 'ip', 'msg');
      expect(line.level).to.equal('info');
      expect(line.path).not.to.include('?');
      expect(line.durationMs).to.be.a('number').and.at.least(0);
      expect(line.ip).to.equal('127.0.0.1');
    }
    const byId = new Map(requestLines.map((l) => [l.reqId, l]));
    expect(byId.get('lb-7f3a.trace:42_x')).to.include({ method: 'GET', path: '/healthz', operation: 'getHealth', status: 200 });
    expect(byId.get('error-path-1')).to.include({ path: '/no/such/path', operation: 'none', status: 404 });
    expect(requestLines.find((l) => l.path === '/activate/qr')).to.include({ operation: 'getActivationQrCode', status: 200 });
    expect(requestLines.filter((l) => l.operation === 'token').map((l) => l.status)).to.deep.equal([200, 200, 401, 400]);
  });
});

describe('request ids and log lines (in process)', () => {
  let server: RunningServer;
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });

  const db = new TestDatabase('sqlite');
  before(async () => {
    await db.setup();
    server = await startServer(db.store, { logger: createLogger('info', sink) });
  });
  after(async () => {
    await server?.close();
    await db.teardown();
  });

  it('not trusted (the default): an incoming X-Request-Id is replaced by a new UUID, on answers and errors alike, and logged', async () => {
    const ok = await server.call('GET', '/healthz', { headers: { 'x-request-id': 'from-the-client' } });
    const missing = await server.call('GET', '/nothing/here', { headers: { 'x-request-id': 'from-the-client' } });
    for (const reply of [ok, missing]) expect(reply.headers.get('x-request-id')).to.match(UUID);
    expect(ok.headers.get('x-request-id')).not.to.equal(missing.headers.get('x-request-id'));
    const logged = lines.filter((l) => l.msg === 'request').map((l) => l.reqId);
    expect(logged).to.include(ok.headers.get('x-request-id'));
    expect(logged).to.include(missing.headers.get('x-request-id'));
    expect(logged).not.to.include('from-the-client');
  });

  /** Runs a TypeScript script (made from the project's src/index path and a scratch directory) with tsx; its stdout. */
  async function stdoutOfScript(source: (index: string, dir: string) => string): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'o2d-logger-script-'));
    const root = join(__dirname, '..', '..');
    const script = join(dir, 'script.ts');
    writeFileSync(script, source(JSON.stringify(join(root, 'src', 'index')), dir));
    try {
      return await new Promise<string>((ok, fail) => {
        execFile(join(root, 'node_modules', '.bin', 'tsx'), [script], { cwd: dir, timeout: 50_000, maxBuffer: 16 << 20 }, (err, stdout) => (err ? fail(err) : ok(stdout)));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('the library default (no logger given): JSON request lines on stdout at level info', async function () {
    this.timeout(60_000);
    const output = await stdoutOfScript(
      (index, dir) => `import { createApp, createHttpServer, defaults, KnexStore, migrateToLatest, openDatabase, parseDatabaseUrl } from ${index};
      (async () => {
        const knex = openDatabase(parseDatabaseUrl(${JSON.stringify(`sqlite:${join(dir, 'db.sqlite')}`)}));
        await migrateToLatest(knex);
        const { app } = await createApp({ issuer: 'http://127.0.0.1:1', store: new KnexStore(knex), secretKeys: ['default-logger-key-0123456789abcdefghij'] });
        const http = createHttpServer(app.callback(), defaults).listen(0, '127.0.0.1', async () => {
          await fetch('http://127.0.0.1:' + (http.address() as { port: number }).port + '/healthz?secret=1');
          http.close(); await knex.destroy();
        });
      })();`,
    );
    const lines = output.split('\n').filter(Boolean).map((line) => JSON.parse(line));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 'info', msg: 'request', method: 'GET', path: '/healthz', operation: 'getHealth', status: 200 });
  });

  it('stdout lines are held for the rest of the event-loop turn only: more than 256 in one turn, then an immediate process.exit, lose none and keep their order', async function () {
    this.timeout(60_000);
    const output = await stdoutOfScript(
      (index) => `import { createLogger } from ${index};
      const logger = createLogger('info');
      setImmediate(() => {
        logger.info({ n: 0 }, 'first');
        for (let n = 1; n <= 600; n++) logger.info({ n }, 'same turn');
        process.exit(0);
      });`,
    );
    const numbers = output.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { n: number }).n);
    expect(numbers).to.deep.equal(Array.from({ length: 601 }, (_, n) => n));
  });

  it('redact is a second belt: secret fields passed to the logger by mistake are replaced', () => {
    const captured: string[] = [];
    const logger = createLogger('info', new Writable({ write: (c: Buffer, _e, done) => (captured.push(c.toString()), done()) }));
    logger.info({ password: 'p4ss', client_secret: 'cs', headers: { authorization: 'Basic abc', cookie: 'o2d_session=s' }, form: { device_code: 'dc' }, req: { query: 'user_code=X' } }, 'oops');
    const text = captured.join('');
    for (const secret of ['p4ss', '"cs"', 'Basic abc', 'o2d_session=s', '"dc"', 'user_code=X']) expect(text).not.to.include(secret);
    expect(text).to.include('[redacted]');
  });
});
