/**
 * Several real server processes (src/main.ts, each its own child process and port) on one
 * fresh MariaDB database, as a deployment behind a load balancer would run them. Every process
 * gets the same secret keys and its own issuer URL. Nothing is mocked: the tests talk HTTP to
 * the children and read the shared database directly.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TestDatabase } from '../support/databases';
import { freePort, serverEnv, ServerProcess } from '../support/process';
import { TEST_SECRET_KEYS } from '../support/server';

export interface Node {
  /** A, B, C ... */
  name: string;
  url: string;
  process: ServerProcess;
}

const READY = /activate:\s+\S+\/activate/;
const EXIT_AFTER_KILL_MS = 10_000;

export class Cluster {
  readonly db = new TestDatabase('mysql');
  readonly nodes: Node[] = [];

  /** Creates and migrates the database, then starts `count` processes on it and waits until each listens. */
  async start(count: number, env: Record<string, string> = {}): Promise<void> {
    await this.db.setup();
    const ports = new Set<number>();
    while (ports.size < count) ports.add(await freePort());
    for (const [i, port] of [...ports].entries()) {
      const url = `http://127.0.0.1:${port}`;
      const child = new ServerProcess(
        process.cwd(),
        serverEnv({
          DATABASE_URL: this.db.url,
          OAUTH2_SECRET_KEYS: TEST_SECRET_KEYS.join(','),
          PORT: String(port),
          HOST: '127.0.0.1',
          OAUTH2_ISSUER: url,
          ...env,
        }),
      );
      this.nodes.push({ name: String.fromCharCode(65 + i), url, process: child });
    }
    // waitForOutput is bounded (30 s) and rejects, with the output, if a child exits first.
    await Promise.all(this.nodes.map((node) => node.process.waitForOutput(READY)));
  }

  node(i: number): Node {
    const node = this.nodes[i % this.nodes.length];
    if (!node) throw new Error(`no server process ${i}`);
    return node;
  }

  /** Kills every child (its whole process group), waits a bounded time for each, drops the database. */
  async stop(): Promise<void> {
    for (const node of this.nodes) node.process.forceKill();
    await Promise.all(this.nodes.map((node) => node.process.waitForExit(EXIT_AFTER_KILL_MS).catch(() => undefined)));
    await this.db.teardown();
  }

  /** The output of every child, for failure messages. */
  output(): string {
    return this.nodes.map((n) => `=== ${n.name} ${n.url} ===\n${n.process.stdout}\n${n.process.stderr}`).join('\n');
  }
}

/** `promise`, or a rejection naming `what` after `ms`: no wait in these tests is unbounded. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  const controller = new AbortController();
  const timeout = sleep(ms, undefined, { signal: controller.signal }).then(() => {
    throw new Error(`${what}: no answer within ${ms} ms`);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    controller.abort();
    timeout.catch(() => undefined);
  }
}
