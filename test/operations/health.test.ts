/**
 * Liveness and readiness: /healthz answers 200 whenever the process answers; /readyz answers
 * 200 only while the database answers and its migrations are all applied, else 503 with the
 * reason, and it answers in bounded time even when the database hangs. The outage uses a
 * private mariadbd (test/robustness/faults-support.ts), stopped, frozen and started again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { migrateToLatest, openDatabase, parseDatabaseUrl } from '../../src/storage/database';
import { KnexStore } from '../../src/storage/knex-store';
import { Configuration, OperationsApi } from '../../generated';
import { MariaDbInstance, mariadbAvailable } from '../robustness/faults-support';
import { checkedFetch } from '../support/http';
import { forEachDatabase } from '../support/databases';
import { startServer, type RunningServer } from '../support/server';

const sleep = (ms: number) => new Promise<void>((ok) => setTimeout(ok, ms));

async function expectNotReady(server: RunningServer, reason: RegExp): Promise<void> {
  const ready = await server.call('GET', '/readyz');
  expect(ready.status, ready.text).to.equal(503);
  expect(ready.json.status).to.equal('not_ready');
  expect(ready.json.reason).to.match(reason);
  expect(ready.json.error).to.equal('temporarily_unavailable');
  expect(ready.json.error_description).to.equal(`not ready: ${ready.json.reason}`);
  expect(ready.headers.get('retry-after')).to.equal('5');
  expect(ready.headers.get('cache-control')).to.equal('no-store');
  const health = await server.call('GET', '/healthz');
  expect(health.status).to.equal(200);
  expect(health.json).to.deep.equal({ status: 'ok' });
}

/** /readyz until it says 200, a bounded number of times (a pool reconnects on its next use). */
async function eventuallyReady(server: RunningServer): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 40; attempt++) {
    const ready = await server.call('GET', '/readyz');
    if (ready.status === 200) {
      expect(ready.json).to.deep.equal({ status: 'ready' });
      return;
    }
    last = ready.text;
    await sleep(250);
  }
  throw new Error(`/readyz never answered 200; last: ${last}`);
}

forEachDatabase('health: /healthz and /readyz', (db) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(db.store);
  });
  after(async () => server?.close());

  it('a migrated database that answers: /healthz 200 ok and /readyz 200 ready, never cached', async () => {
    const health = await server.call('GET', '/healthz');
    expect(health.status).to.equal(200);
    expect(health.json).to.deep.equal({ status: 'ok' });
    const ready = await server.call('GET', '/readyz');
    expect(ready.status).to.equal(200);
    expect(ready.json).to.deep.equal({ status: 'ready' });
    expect(ready.headers.get('cache-control')).to.equal('no-store');
  });

  it('the generated SDK has them (tag Operations): OperationsApi.getHealth and getReadiness', async () => {
    const api = new OperationsApi(new Configuration({ basePath: server.url, fetchApi: checkedFetch }));
    expect(await api.getHealth()).to.deep.equal({ status: 'ok' });
    expect(await api.getReadiness()).to.deep.equal({ status: 'ready' });
  });

  it('one migration rolled back: /readyz 503 "1 database migration(s) pending"; applied again: 200', async () => {
    await db.knex.migrate.down();
    try {
      await expectNotReady(server, /^1 database migration\(s\) pending$/);
    } finally {
      await migrateToLatest(db.knex);
    }
    expect((await server.call('GET', '/readyz')).status).to.equal(200);
  });
});

describe('[sqlite] health: a database opened but never migrated', () => {
  let dir: string;
  let knex: Knex;
  let server: RunningServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'o2d-unmigrated-'));
    knex = openDatabase(parseDatabaseUrl(`sqlite:${join(dir, 'empty.sqlite')}`));
    server = await startServer(new KnexStore(knex));
  });
  after(async () => {
    await server?.close();
    await knex?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('/readyz 503 with every migration pending, /healthz 200', async () => {
    await expectNotReady(server, /^\d+ database migration\(s\) pending$/);
  });
});

describe('[mariadb] health while the database is down (a private mariadbd)', () => {
  let mariadb: MariaDbInstance | undefined;
  let knex: Knex | undefined;
  let server: RunningServer | undefined;

  before(async function () {
    if (!mariadbAvailable()) {
      // In CI the MariaDB binaries are installed by .ci/run: missing them there is a failure.
      if (process.env.CI) throw new Error('mariadb-install-db and mariadbd are needed for the outage tests');
      this.skip();
    }
    this.timeout(120_000);
    mariadb = new MariaDbInstance();
    await mariadb.init();
    knex = openDatabase(parseDatabaseUrl(mariadb.url));
    await migrateToLatest(knex);
    server = await startServer(new KnexStore(knex));
  });

  after(async function () {
    this.timeout(60_000);
    if (mariadb?.pid) {
      try {
        process.kill(mariadb.pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    await server?.close();
    await knex?.destroy().catch(() => undefined);
    await mariadb?.destroy();
  });

  it('stopped: /readyz 503 "does not answer" and /healthz 200; started again: /readyz 200', async function () {
    this.timeout(120_000);
    await eventuallyReady(server!);
    await mariadb!.stop('SIGKILL');
    await expectNotReady(server!, /^the database does not answer$/);
    await mariadb!.start();
    await eventuallyReady(server!);
  });

  it('frozen (SIGSTOP, connections hang): /readyz still answers, 503 "did not answer within 2 s"; thawed: 200', async function () {
    this.timeout(120_000);
    await eventuallyReady(server!);
    // A pooled connection's query, or a new connection's handshake: either hangs now.
    process.kill(mariadb!.pid!, 'SIGSTOP');
    try {
      await expectNotReady(server!, /^the database did not answer within 2 s$/);
    } finally {
      process.kill(mariadb!.pid!, 'SIGCONT');
    }
    await eventuallyReady(server!);
  });
});
