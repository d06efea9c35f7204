/**
 * The admin CLI (`oauth2-devices clients|users|migrate`) as a real child process on the
 * database a live server uses (DATABASE_URL of the test database): what it registers works at
 * the server at once, what it rotates, disables or resets stops working there at once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { forEachDatabase } from '../support/databases';
import { basic, BrowserSession, request } from '../support/http';
import { serverEnv } from '../support/process';
import { DEVICE_GRANT, startServer, TEST_PASSWORD, uniqueName, type RunningServer } from '../support/server';
import { Lifecycle, REFRESH_GRANT } from '../tokens/lifecycle';

const ROOT = resolve(__dirname, '..', '..');
const BIN = resolve(ROOT, 'bin', 'oauth2-devices.cjs');
const RUN_TIMEOUT_MS = 30_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One run of the command in an empty directory, with DATABASE_URL and optional stdin. */
function cli(databaseUrl: string, args: string[], stdin = ''): Promise<CliResult> {
  const cwd = mkdtempSync(join(tmpdir(), 'o2d-cli-'));
  return new Promise<CliResult>((ok, fail) => {
    const proc = spawn(process.execPath, [BIN, ...args], { cwd, env: serverEnv({ DATABASE_URL: databaseUrl }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      fail(new Error(`oauth2-devices ${args.join(' ')} did not exit within ${RUN_TIMEOUT_MS} ms\n${stdout}\n${stderr}`));
    }, RUN_TIMEOUT_MS);
    proc.once('close', (code) => {
      clearTimeout(timer);
      rmSync(cwd, { recursive: true, force: true });
      ok({ code, stdout, stderr });
    });
    proc.stdin.end(stdin);
  });
}

const output = (r: CliResult) => `exit ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;

forEachDatabase('admin CLI on the database of a live server', (db) => {
  let server: RunningServer;
  let life: Lifecycle;

  before(async () => {
    server = await startServer(db.store);
    life = new Lifecycle(db, () => server);
  });
  after(async () => server.close());

  const run = (args: string[], stdin?: string) => cli(db.url, args, stdin);

  async function ok(args: string[], stdin?: string): Promise<CliResult> {
    const result = await run(args, stdin);
    expect(result.code, output(result)).to.equal(0);
    return result;
  }

  const deviceAuthorization = (id: string, secret: string) =>
    request(server.url, 'POST', '/oauth/device_authorization', { form: {}, headers: { authorization: basic(id, secret) } });

  it('clients create --json: the client works at the live server; rotate-secret: the old secret fails there at once, the new one works', async function () {
    this.timeout(90_000);
    const id = uniqueName('cli-svc');
    const created = JSON.parse((await ok(['clients', 'create', '--id', id, '--name', 'CLI Service', '--type', 'confidential', '--scopes', 'profile email', '--grant-types', `${DEVICE_GRANT} ${REFRESH_GRANT}`, '--json'])).stdout);
    expect(created).to.include({ client_id: id, type: 'confidential', allowed_scopes: 'profile email' });
    const oldSecret = created.client_secret as string;
    expect(oldSecret).to.match(/^o2d_cs_/);

    const client = (await db.store.findClient(id))!;
    const approval = await life.approve({ client, secret: oldSecret }, { scope: 'profile' });
    await life.expectAccessWorks(approval.tokens.access_token, approval);

    const rotated = JSON.parse((await ok(['clients', 'rotate-secret', id, '--json'])).stdout);
    expect(rotated.client_id).to.equal(id);
    expect(rotated.client_secret).to.match(/^o2d_cs_/).and.not.equal(oldSecret);
    const old = await deviceAuthorization(id, oldSecret);
    expect(old.status).to.equal(401);
    expect(old.json.error).to.equal('invalid_client');
    expect((await deviceAuthorization(id, rotated.client_secret)).status).to.equal(200);
  });

  it('human output: create prints the secret once with a warning; show, list and update never print it; delete ends the client\'s tokens', async function () {
    this.timeout(90_000);
    const id = uniqueName('cli-tv');
    const created = await ok(['clients', 'create', '--id', id, '--name', 'CLI TV', '--type', 'confidential', '--scopes', 'profile']);
    const secret = /client_secret:\s+(o2d_cs_\S+)\s+\(shown only now/.exec(created.stdout)?.[1];
    expect(secret, created.stdout).to.be.a('string');
    for (const args of [['clients', 'show', id], ['clients', 'list'], ['clients', 'update', id, '--access-token-lifetime', '120']]) {
      const result = await ok(args);
      expect(result.stdout).to.include(id);
      expect(result.stdout).not.to.include('o2d_cs_');
    }
    const shown = JSON.parse((await ok(['clients', 'show', id, '--json'])).stdout);
    expect(shown).to.include({ client_id: id, access_token_lifetime: 120 });
    const listed = JSON.parse((await ok(['clients', 'list', '--json'])).stdout);
    expect(listed.clients.map((c: { client_id: string }) => c.client_id)).to.include(id);

    const approval = await life.approve({ client: (await db.store.findClient(id))!, secret: secret! });
    expect(approval.tokens.expires_in).to.equal(120);
    await ok(['clients', 'delete', id]);
    await life.expectAccessRefused(approval.tokens.access_token);
    const gone = await run(['clients', 'show', id]);
    expect(gone.code, output(gone)).to.equal(4);
    expect(gone.stderr).to.include('not_found');
  });

  it('users create --password-stdin: the person signs in at the live server; the password is never printed', async function () {
    this.timeout(60_000);
    const username = uniqueName('cli-alice');
    const created = await ok(['users', 'create', '--username', username, '--name', 'Alice CLI', '--email', `${username}@example.test`, '--password-stdin'], `${TEST_PASSWORD}\n`);
    expect(created.stdout).to.include(username);
    expect(created.stdout + created.stderr).not.to.include(TEST_PASSWORD);
    expect((await new BrowserSession(server.url).signIn(username, TEST_PASSWORD)).status).to.equal(303);
  });

  it('users create without --password-stdin prints a generated password once, and it signs in', async function () {
    this.timeout(60_000);
    const username = uniqueName('cli-bob');
    const created = JSON.parse((await ok(['users', 'create', '--username', username, '--name', 'Bob CLI', '--json'])).stdout);
    expect(created.password).to.be.a('string');
    expect((await new BrowserSession(server.url).signIn(username, created.password)).status).to.equal(303);
  });

  it('users disable: the person\'s token stops working at the live server at once; enable; reset-password: the old password fails', async function () {
    this.timeout(90_000);
    const person = await life.person();
    const approval = await life.approve(await life.refreshingClient(), { person });
    await life.expectAccessWorks(approval.tokens.access_token, approval);

    const disabled = JSON.parse((await ok(['users', 'disable', person.person.username, '--json'])).stdout);
    expect(disabled).to.include({ user_id: person.person.id, disabled: true });
    await life.expectAccessRefused(approval.tokens.access_token);
    expect((await new BrowserSession(server.url).signIn(person.person.username, TEST_PASSWORD)).status).to.not.equal(303);

    await ok(['users', 'enable', person.person.id]);
    await life.expectAccessWorks(approval.tokens.access_token, approval);

    const reset = JSON.parse((await ok(['users', 'reset-password', person.person.username, '--json'])).stdout);
    expect(reset.user_id).to.equal(person.person.id);
    expect((await new BrowserSession(server.url).signIn(person.person.username, TEST_PASSWORD)).status).to.equal(401);
    expect((await new BrowserSession(server.url).signIn(person.person.username, reset.password)).status).to.equal(303);
    const listed = JSON.parse((await ok(['users', 'list', '--json'])).stdout);
    expect(listed.users.map((u: { username: string }) => u.username)).to.include(person.person.username);
  });

  it('exit codes: 64 for bad usage (unknown option, missing option, a password on the command line, an invalid value), 4 for not found, 1 for a taken id', async function () {
    this.timeout(90_000);
    const usage: string[][] = [
      ['clients', 'create', '--name', 'TV', '--type', 'public'],
      ['clients', 'create', '--name', 'TV', '--type', 'public', '--scopes', 'profile', '--frobnicate'],
      ['clients', 'frobnicate'],
      ['clients', 'show'],
      ['users'],
      ['users', 'create', '--username', 'x', '--name', 'X', '--password', TEST_PASSWORD],
      ['clients', 'create', '--name', 'TV', '--type', 'public', '--scopes', 'openid'],
      ['migrate', 'now'],
    ];
    for (const args of usage) {
      const result = await run(args);
      expect(result.code, `${args.join(' ')}\n${output(result)}`).to.equal(64);
      expect(result.stdout).to.equal('');
    }
    expect((await run(['users', 'disable', 'no-such-user'])).code).to.equal(4);
    expect((await run(['clients', 'rotate-secret', 'no-such-client'])).code).to.equal(4);
    const id = uniqueName('cli-dup');
    await ok(['clients', 'create', '--id', id, '--name', 'TV', '--type', 'public', '--scopes', 'profile']);
    const again = await run(['clients', 'create', '--id', id, '--name', 'TV', '--type', 'public', '--scopes', 'profile']);
    expect(again.code, output(again)).to.equal(1);
    expect(again.stderr).to.include('conflict');
  });

  it('--help of each command prints its usage and exits 0', async function () {
    this.timeout(60_000);
    for (const args of [['clients', 'create', '--help'], ['users', 'reset-password', '--help'], ['clients', '--help'], ['migrate', '--help']]) {
      const result = await ok(args);
      expect(result.stdout, args.join(' ')).to.include('usage:');
    }
    expect((await ok(['clients', 'create', '--help'])).stdout).to.include('--scopes');
    const top = await ok(['--help']);
    expect(top.stdout).to.include('clients rotate-secret');
    expect(top.stderr).to.equal('');
  });
});

forEachDatabase('admin CLI: migrate', (db) => {
  it('on a database without the schema: clients list fails (exit 1, says to migrate); migrate creates it; then clients list works', async function () {
    this.timeout(90_000);
    await db.knex.migrate.rollback(undefined, true);
    expect(await db.knex.schema.hasTable('clients')).to.equal(false);

    const before = await cli(db.url, ['clients', 'list']);
    expect(before.code, output(before)).to.equal(1);
    expect(before.stderr).to.include('oauth2-devices migrate');

    const migrated = await cli(db.url, ['migrate']);
    expect(migrated.code, output(migrated)).to.equal(0);
    for (const table of ['clients', 'users', 'device_authorizations', 'access_tokens', 'refresh_tokens', 'sessions']) {
      expect(await db.knex.schema.hasTable(table), table).to.equal(true);
    }
    const [, pending] = (await db.knex.migrate.list()) as [unknown[], unknown[]];
    expect(pending).to.have.length(0);
    const after = await cli(db.url, ['clients', 'list', '--json']);
    expect(after.code, output(after)).to.equal(0);
    expect(JSON.parse(after.stdout)).to.deep.equal({ clients: [] });
  });
});
