/**
 * The standalone server as a real child process, for tests that need more than one process or
 * the real entry point: src/main.ts through tsx, or the build that `npm start` runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { npmStartArgs } from '../../bench/start-script';

const ROOT = resolve(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const MAIN = join(ROOT, 'src', 'main.ts');

const START_TIMEOUT_MS = 30_000;
const EXIT_TIMEOUT_MS = 15_000;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

/** The environment of the test run without any setting of the server, plus `extra`. */
export function serverEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('OAUTH2_') || ['DATABASE_URL', 'PORT', 'HOST', 'MYSQL_URL'].includes(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One server process; its own process group, so that it and tsx's child can always be killed. */
export class ServerProcess {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  exit: Exit | undefined;
  private readonly exited: Promise<Exit>;
  private readonly listeners = new Set<() => void>();

  /** `from: 'build'`: dist/src/main.js as `npm start` runs it (build it first: buildAsNpmStartDoes). */
  constructor(cwd: string, env: NodeJS.ProcessEnv, from: 'sources' | 'build' = 'sources') {
    const [command, args] = from === 'build' ? [process.execPath, npmStartArgs()] : [TSX, [MAIN]];
    this.proc = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.listeners.forEach((l) => l());
    });
    this.proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.listeners.forEach((l) => l());
    });
    this.exited = new Promise<Exit>((ok) => {
      this.proc.once('close', (code, signal) => {
        this.exit = { code, signal };
        this.listeners.forEach((l) => l());
        ok(this.exit);
      });
    });
  }

  private output(): string {
    return `--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }

  /** Resolves with the stdout match, or rejects on exit or after `ms`. */
  waitForOutput(pattern: RegExp, ms = START_TIMEOUT_MS): Promise<RegExpExecArray> {
    return new Promise((ok, fail) => {
      const check = () => {
        const match = pattern.exec(this.stdout);
        if (match) return done(() => ok(match));
        if (this.exit) return done(() => fail(new Error(`the server exited (${JSON.stringify(this.exit)}) before printing ${pattern}\n${this.output()}`)));
      };
      const timer = setTimeout(() => done(() => fail(new Error(`no ${pattern} within ${ms} ms\n${this.output()}`))), ms);
      const done = (settle: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        settle();
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Resolves with how the process ended, or rejects after `ms`. */
  waitForExit(ms = EXIT_TIMEOUT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`the server did not exit within ${ms} ms\n${this.output()}`)), ms);
    });
    return Promise.race([this.exited, timeout]).finally(() => clearTimeout(timer));
  }

  /** SIGTERM to the server process itself, as a process supervisor sends it. */
  terminate(): void {
    this.proc.kill('SIGTERM');
  }

  /** Cleanup: kill the whole process group (tsx and the node process it started). */
  forceKill(): void {
    if (this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

