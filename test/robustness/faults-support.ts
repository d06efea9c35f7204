/**
 * Helpers of test/robustness/faults.test.ts: a private MariaDB instance the test can stop and
 * start (its own data directory, port and socket; never the shared server on 3306), HTTP with a
 * hard deadline per request (a hang is a finding, not a stuck test), and a small browser on top
 * of it for the activation pages. Nothing here is mocked: real processes, real sockets.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from '../support/process';

const INSTALL_DB = ['/usr/bin/mariadb-install-db', '/usr/bin/mysql_install_db'].find((file) => existsSync(file));
const MARIADBD = ['/usr/sbin/mariadbd', '/usr/sbin/mysqld'].find((file) => existsSync(file));

/** Whether this machine has the MariaDB server binaries the outage test needs. */
export function mariadbAvailable(): boolean {
  return INSTALL_DB !== undefined && MARIADBD !== undefined;
}

function run(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((ok, fail) => {
    execFile(file, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
      else ok({ stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

/** Whether `promise` settles within `ms`; the timer is cleared either way (it must not keep mocha alive). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((ok) => {
    timer = setTimeout(() => ok(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** mariadbd processes still running, killed if the test process exits without its after hooks. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * One mariadbd on a data directory of its own. Grants are real: `mariadb-install-db
 * --auth-root-authentication-method=normal` creates root@localhost without a password, reachable
 * only through this instance's socket; the test then creates an application user with a random
 * password that may use one database, and the server under test connects as that user over TCP.
 */
export class MariaDbInstance {
  readonly dir: string;
  readonly dataDir: string;
  readonly socket: string;
  port = 0;
  readonly database = 'o2d_outage';
  readonly user = 'o2d_app';
  readonly password = randomBytes(12).toString('hex');
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'o2d-mariadb-'));
    this.dataDir = join(this.dir, 'data');
    this.socket = join(this.dir, 'mariadb.sock');
  }

  /** The DATABASE_URL of the application user. */
  get url(): string {
    return `mysql://${this.user}:${this.password}@127.0.0.1:${this.port}/${this.database}`;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The error log, for failure messages. */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '(no error log)';
    }
  }

  /** Creates the system tables, starts the server, and creates the application user and database. */
  async init(): Promise<void> {
    if (!INSTALL_DB || !MARIADBD) throw new Error('no mariadb-install-db / mariadbd on this machine');
    await run(
      INSTALL_DB,
      ['--no-defaults', `--datadir=${this.dataDir}`, '--user=root', '--auth-root-authentication-method=normal', '--skip-test-db'],
      120_000,
    );
    this.port = await freePort();
    await this.start();
    await this.admin(async (conn) => {
      await conn.query(`CREATE DATABASE \`${this.database}\` CHARACTER SET utf8mb4`);
      await conn.query(`CREATE USER '${this.user}'@'127.0.0.1' IDENTIFIED BY '${this.password}'`);
      // TRIGGER is not needed by the server; ALL on its own database is what an operator grants.
      await conn.query(`GRANT ALL PRIVILEGES ON \`${this.database}\`.* TO '${this.user}'@'127.0.0.1'`);
    });
  }

  /** Starts mariadbd on the same data directory and port, and waits until the app user can connect. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.running) throw new Error('mariadbd is already running');
    const proc = spawn(
      MARIADBD!,
      [
        '--no-defaults',
        `--datadir=${this.dataDir}`,
        `--port=${this.port}`,
        `--socket=${this.socket}`,
        '--bind-address=127.0.0.1',
        '--user=root',
        `--pid-file=${join(this.dir, 'mariadbd.pid')}`,
        `--log-error=${join(this.dir, 'error.log')}`,
        '--skip-name-resolve',
        '--innodb-buffer-pool-size=32M',
        // After a SIGKILL the old socket may linger a moment (TIME_WAIT is harmless with
        // SO_REUSEADDR, but a bind retry costs nothing).
        '--port-open-timeout=20',
      ],
      { detached: true, stdio: 'ignore' },
    );
    this.proc = proc;
    live.add(proc);
    this.exited = new Promise<void>((ok) =>
      proc.once('exit', () => {
        live.delete(proc);
        ok();
      }),
    );
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`mariadbd exited during start-up\n${this.log()}`);
      try {
        const conn = await mysql.createConnection({ socketPath: this.socket, user: 'root', connectTimeout: 2000 });
        await conn.query('SELECT 1');
        await conn.end();
        // The TCP listener is opened together with the socket; check the port too.
        const tcp = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 2000 });
        await tcp.end();
        return;
      } catch (err) {
        last = err;
        await sleep(100);
      }
    }
    throw new Error(`mariadbd did not accept connections within ${timeoutMs} ms: ${String(last)}\n${this.log()}`);
  }

  /** Stops mariadbd with `signal` and waits until the process is gone (SIGKILL after the bound). */
  async stop(signal: 'SIGTERM' | 'SIGKILL', timeoutMs = 60_000): Promise<void> {
    if (!this.running) return;
    this.proc!.kill(signal);
    if (!(await settlesWithin(this.exited, timeoutMs))) {
      this.proc!.kill('SIGKILL');
      await settlesWithin(this.exited, 10_000);
      throw new Error(`mariadbd did not stop within ${timeoutMs} ms of ${signal}\n${this.log()}`);
    }
  }

  /** A root connection through this instance's socket; the caller closes it. */
  adminConnection(): Promise<mysql.Connection> {
    return mysql.createConnection({ socketPath: this.socket, user: 'root', database: this.database, connectTimeout: 5000 });
  }

  /** Runs `work` on a root connection through this instance's socket. */
  async admin<T>(work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
    const conn = await mysql.createConnection({ socketPath: this.socket, user: 'root', connectTimeout: 5000 });
    try {
      return await work(conn);
    } finally {
      await conn.end().catch(() => conn.destroy());
    }
  }

  /** Cleanup: kill mariadbd whatever its state, and remove the data directory. */
  async destroy(): Promise<void> {
    if (this.running) {
      try {
        this.proc!.kill('SIGKILL');
      } catch {
        // already gone
      }
      await settlesWithin(this.exited, 10_000);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One HTTP exchange with its timing; `error` when no answer came (refused, reset, deadline). */
export interface TimedReply {
  method: string;
  path: string;
  startedAt: number;
  endedAt: number;
  status: number;
  headers: Headers;
  text: string;
  json: any;
  error?: string;
}

export interface TimedOptions {
  form?: Record<string, string>;
  headers?: Record<string, string>;
  query?: Record<string, string>;
}

/**
 * A request that is given up after `deadlineMs`: a server that never answers shows up as
 * `error: 'deadline'` instead of a test that hangs. Not contract-checked here: the caller decides
 * which statuses are expected (an injected fault may legitimately produce an undeclared 500).
 */
export async function timedRequest(baseUrl: string, method: string, path: string, options: TimedOptions = {}, deadlineMs = 10_000): Promise<TimedReply> {
  const url = new URL(path, baseUrl);
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  let body: string | undefined;
  if (options.form) {
    body = new URLSearchParams(options.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const startedAt = Date.now();
  try {
    const response = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(deadlineMs) });
    const text = await response.text();
    const isJson = (response.headers.get('content-type') ?? '').startsWith('application/json');
    let json: unknown;
    try {
      json = isJson ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { method, path: url.pathname, startedAt, endedAt: Date.now(), status: response.status, headers: response.headers, text, json };
  } catch (err) {
    const name = (err as Error)?.name;
    const error = name === 'TimeoutError' || name === 'AbortError' ? 'deadline' : `${name}: ${(err as Error)?.message} ${String((err as { cause?: unknown }).cause ?? '')}`;
    return { method, path: url.pathname, startedAt, endedAt: Date.now(), status: 0, headers: new Headers(), text: '', json: undefined, error };
  }
}

/** Cookies and CSRF tokens over timedRequest: enough of a browser to sign in and decide. */
export class TimedBrowser {
  private cookies = new Map<string, string>();
  /** Every reply this browser received, for the caller's checks. */
  readonly replies: TimedReply[] = [];

  constructor(
    readonly baseUrl: string,
    readonly deadlineMs = 10_000,
  ) {}

  async send(method: string, path: string, options: TimedOptions = {}): Promise<TimedReply> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const reply = await timedRequest(this.baseUrl, method, path, { ...options, headers: { ...(cookie ? { cookie } : {}), ...(options.headers ?? {}) } }, this.deadlineMs);
    this.replies.push(reply);
    for (const line of reply.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return reply;
  }

  static csrf(page: TimedReply): string | undefined {
    return /name="csrf_token" value="([^"]+)"/.exec(page.text)?.[1];
  }

  /** Signs in; true when the server said 303 (signed in). */
  async signIn(username: string, password: string): Promise<boolean> {
    const page = await this.send('GET', '/signin');
    const csrf = TimedBrowser.csrf(page);
    if (page.status !== 200 || !csrf) return false;
    const reply = await this.send('POST', '/signin', { form: { csrf_token: csrf, username, password } });
    return reply.status === 303;
  }

  /**
   * Enters the code and approves. 'approved' only when the result page said 200; 'failed' when a
   * step before the decision failed (nothing was decided); 'unknown' when the decision itself
   * got no 200 (it may or may not have been written).
   */
  async approve(userCode: string): Promise<'approved' | 'failed' | 'unknown'> {
    const form = await this.send('GET', '/activate');
    const csrf = TimedBrowser.csrf(form);
    if (form.status !== 200 || !csrf) return 'failed';
    const confirm = await this.send('POST', '/activate', { form: { csrf_token: csrf, user_code: userCode } });
    const confirmCsrf = TimedBrowser.csrf(confirm);
    if (confirm.status !== 200 || !confirmCsrf) return 'failed';
    const decided = await this.send('POST', '/activate/decision', { form: { csrf_token: confirmCsrf, user_code: userCode, decision: 'approve' } });
    return decided.status === 200 ? 'approved' : 'unknown';
  }
}
