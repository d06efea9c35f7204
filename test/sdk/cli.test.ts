/**
 * `oauth2-devices device` as a real child process against the running app, in real time
 * (the server's clock is Date.now, the poll interval 1 s): it shows the code and a QR code,
 * a person decides in the pages, and the command prints the outcome and exits with its code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { expect } from 'chai';
import QRCode from 'qrcode';
import { forEachDatabase } from '../support/databases';
import { BrowserSession } from '../support/http';
import { DEVICE_GRANT, makePublicClient, makeUser, startServer, TEST_PASSWORD, type RunningServer } from '../support/server';

const ROOT = resolve(__dirname, '..', '..');
const BIN = resolve(ROOT, 'bin', 'oauth2-devices.cjs');
/** Starting the command (tsx compiles on the fly) and one device flow at a 1 s interval. */
const OUTPUT_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 20_000;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One run of the command, with its output collected and helpers that wait with a bound. */
class CliRun {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  private readonly exited: Promise<Exit>;
  private readonly listeners = new Set<() => void>();

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const changed = () => this.listeners.forEach((l) => l());
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      changed();
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      changed();
    });
    this.exited = new Promise<Exit>((ok) => {
      this.proc.once('close', (code, signal) => {
        this.exit = { code, signal };
        changed();
        ok(this.exit);
      });
    });
  }

  output(): string {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  /** Resolves once `test(stdout)` gives a value; rejects on exit or after `ms`. */
  waitFor<T>(what: string, test: (stdout: string) => T | undefined, ms = OUTPUT_TIMEOUT_MS): Promise<T> {
    return new Promise<T>((ok, fail) => {
      const timer = setTimeout(() => done(() => fail(new Error(`no ${what} within ${ms} ms\n${this.output()}`))), ms);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      const check = () => {
        const found = test(this.stdout);
        if (found !== undefined) return done(() => ok(found));
        if (this.exit) done(() => fail(new Error(`the command exited (${JSON.stringify(this.exit)}) before ${what}\n${this.output()}`)));
      };
      this.listeners.add(check);
      check();
    });
  }

  waitForOutput(pattern: RegExp, ms = OUTPUT_TIMEOUT_MS): Promise<RegExpExecArray> {
    return this.waitFor(String(pattern), (out) => pattern.exec(out) ?? undefined, ms);
  }

  waitForExit(ms = EXIT_TIMEOUT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`the command did not exit within ${ms} ms\n${this.output()}`)), ms);
    });
    return Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
  }

  /** The JSON lines printed so far (--json). */
  events(): Array<Record<string, any>> {
    return this.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line));
  }

  kill(): void {
    if (this.exit === undefined) this.proc.kill('SIGKILL');
  }
}

const USER_CODE = /enter the code:\s+([A-Z]{4}-[A-Z]{4})/;

forEachDatabase('device CLI (oauth2-devices device) as a child process', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store, { pollInterval: 1, clock: Date.now });
  });
  after(async () => server.close());

  const runs: CliRun[] = [];
  function cli(args: string[]): CliRun {
    const run = new CliRun(args);
    runs.push(run);
    return run;
  }
  afterEach(() => {
    for (const run of runs.splice(0)) run.kill();
  });

  async function signedIn(): Promise<{ username: string; browser: BrowserSession }> {
    const person = await makeUser(db.store);
    const browser = new BrowserSession(server.url);
    const reply = await browser.signIn(person.username, TEST_PASSWORD);
    expect(reply.status, reply.text).to.equal(303);
    return { username: person.username, browser };
  }

  async function decide(browser: BrowserSession, userCode: string, decision: 'approve' | 'deny'): Promise<void> {
    const reply = await browser.decide(userCode, decision);
    expect(reply.status, reply.text).to.equal(200);
  }

  it('shows the user code and a terminal QR code of verification_uri_complete; on approval prints the scope and /api/me, exit 0', async () => {
    const client = await makePublicClient(db.store);
    const { username, browser } = await signedIn();
    const run = cli(['device', '--issuer', server.url, '--client-id', client.id]);
    try {
      const userCode = (await run.waitForOutput(USER_CODE))[1]!;
      // The QR code is printed before polling starts; the first pending poll prints a line.
      await run.waitForOutput(/Waiting for approval, \d+:\d\d left/);
      expect(run.stdout).to.include(`To connect this device, open ${server.url}/activate`);
      expect(run.stdout).to.include('or scan this with your phone');
      const qr = await QRCode.toString(`${server.url}/activate?user_code=${encodeURIComponent(userCode)}`, { type: 'terminal', small: true });
      expect(run.stdout).to.include(qr);

      await decide(browser, userCode, 'approve');
      const exit = await run.waitForExit();
      expect(exit.code, run.output()).to.equal(0);
      expect(run.stdout).to.include('Approved. Granted scope: profile');
      expect(run.stdout).to.include(`${server.url}/api/me answered 200:`);
      const body = JSON.parse(run.stdout.slice(run.stdout.indexOf('answered 200:') + 'answered 200:'.length));
      expect(body).to.include({ username, client_id: client.id, scope: 'profile' });
      expect(run.stderr).to.equal('');
    } finally {
      run.kill();
    }
  });

  it('--no-qr: no QR code', async () => {
    const client = await makePublicClient(db.store);
    const { browser } = await signedIn();
    const run = cli(['device', '--issuer', server.url, '--client-id', client.id, '--no-qr']);
    try {
      const userCode = (await run.waitForOutput(USER_CODE))[1]!;
      await run.waitForOutput(/Waiting for approval/);
      await decide(browser, userCode, 'approve');
      const exit = await run.waitForExit();
      expect(exit.code, run.output()).to.equal(0);
      expect(run.stdout).not.to.include('scan this');
      expect(run.stdout).not.to.match(/[▀▄█]/);
      expect(run.stdout).to.include('Approved. Granted scope: profile');
    } finally {
      run.kill();
    }
  });

  it('--json: one JSON object per line: authorization, pending, token, resource; exit 0', async () => {
    const client = await makePublicClient(db.store, { grantTypes: [DEVICE_GRANT, 'refresh_token'] });
    const { username, browser } = await signedIn();
    const run = cli(['device', '--issuer', server.url, '--client-id', client.id, '--json', '--scope', 'profile email']);
    try {
      const authorization = await run.waitFor('the authorization event', () => run.events().find((e) => e.event === 'authorization'));
      await run.waitFor('a pending event', () => run.events().find((e) => e.event === 'pending'));
      await decide(browser, authorization.user_code, 'approve');
      const exit = await run.waitForExit();
      expect(exit.code, run.output()).to.equal(0);

      const events = run.events();
      const kinds = events.map((e) => e.event);
      expect(kinds[0]).to.equal('authorization');
      expect(kinds.slice(-2)).to.deep.equal(['token', 'resource']);
      expect(kinds.slice(1, -2).length).to.be.at.least(1);
      expect(kinds.slice(1, -2).every((k) => k === 'pending')).to.equal(true, run.output());

      expect(authorization.user_code).to.match(/^[A-Z]{4}-[A-Z]{4}$/);
      expect(authorization).to.include({
        verification_uri: `${server.url}/activate`,
        verification_uri_complete: `${server.url}/activate?user_code=${encodeURIComponent(authorization.user_code)}`,
        expires_in: 900,
        interval: 1,
      });
      for (const p of events.filter((e) => e.event === 'pending')) expect(p.seconds_left).to.be.within(880, 900);
      expect(events.at(-2)).to.deep.equal({ event: 'token', scope: 'profile email', token_type: 'Bearer', expires_in: 3600, refresh_token: true });
      const resource = events.at(-1)!;
      expect(resource.url).to.equal(`${server.url}/api/me`);
      expect(resource.status).to.equal(200);
      expect(resource.body).to.include({ username, client_id: client.id, scope: 'profile email', email: `${username}@example.test` });
      expect(run.stderr).to.equal('');
    } finally {
      run.kill();
    }
  });

  it('RFC 8628 §3.5 access_denied: a denial exits 2 with "Denied" on stderr', async () => {
    const client = await makePublicClient(db.store);
    const { browser } = await signedIn();
    const run = cli(['device', '--issuer', server.url, '--client-id', client.id, '--no-qr']);
    try {
      const userCode = (await run.waitForOutput(USER_CODE))[1]!;
      await decide(browser, userCode, 'deny');
      const exit = await run.waitForExit();
      expect(exit.code, run.output()).to.equal(2);
      expect(run.stderr).to.match(/^Denied: /);
      expect(run.stdout).not.to.include('Approved');
    } finally {
      run.kill();
    }
  });

  it('RFC 8628 §3.5 expired_token: nobody decides within expires_in (10 s): exit 3 with "Expired" on stderr', async function () {
    this.timeout(40_000);
    const short = await startServer(db.store, { pollInterval: 1, deviceCodeLifetime: 10, clock: Date.now });
    const client = await makePublicClient(db.store);
    const run = cli(['device', '--issuer', short.url, '--client-id', client.id, '--no-qr']);
    try {
      await run.waitForOutput(USER_CODE);
      const shownAt = Date.now();
      const exit = await run.waitForExit(15_000);
      expect(exit.code, run.output()).to.equal(3);
      expect(Date.now() - shownAt).to.be.below(12_000);
      expect(run.stderr).to.match(/^Expired: /);
      // It polled while the code lived: several pending lines, counting down.
      const left = [...run.stdout.matchAll(/Waiting for approval, 0:(\d\d) left/g)].map((m) => Number(m[1]));
      expect(left.length, run.output()).to.be.at.least(3);
      expect(left.every((s) => s < 10)).to.equal(true, run.output());
    } finally {
      run.kill();
      await short.close();
    }
  });

  it('SIGINT while waiting: exit 130, "Interrupted."', async () => {
    const client = await makePublicClient(db.store);
    const run = cli(['device', '--issuer', server.url, '--client-id', client.id, '--no-qr']);
    try {
      await run.waitForOutput(/Waiting for approval/);
      run.proc.kill('SIGINT');
      const exit = await run.waitForExit(5_000);
      expect(exit.code, run.output()).to.equal(130);
      expect(run.stderr).to.equal('Interrupted.\n');
    } finally {
      run.kill();
    }
  });

  it('bad usage: without --client-id exit 64 and the usage on stderr', async () => {
    const run = cli(['device', '--issuer', server.url]);
    try {
      const exit = await run.waitForExit();
      expect(exit.code, run.output()).to.equal(64);
      expect(run.stderr).to.include('device needs --issuer URL and --client-id ID');
      expect(run.stdout).to.equal('');
    } finally {
      run.kill();
    }
  });

  it('bad usage: an unknown option exits 64', async () => {
    const run = cli(['device', '--issuer', server.url, '--client-id', 'x', '--frobnicate']);
    try {
      const exit = await run.waitForExit();
      expect(exit.code, run.output()).to.equal(64);
      expect(run.stderr).to.include('--frobnicate');
    } finally {
      run.kill();
    }
  });

  it('RFC 6749 §5.2 invalid_client: an unknown client exits 1 with the server\'s error', async () => {
    const run = cli(['device', '--issuer', server.url, '--client-id', 'no-such-client', '--no-qr']);
    try {
      const exit = await run.waitForExit();
      expect(exit.code, run.output()).to.equal(1);
      expect(run.stderr).to.match(/^The server refused: invalid_client/);
      expect(run.stdout).to.equal('');
    } finally {
      run.kill();
    }
  });
});
