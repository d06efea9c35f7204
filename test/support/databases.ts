/**
 * The same suite on every database: SQLite always (a real file), MySQL/MariaDB when MYSQL_URL
 * is set. Each `forEachDatabase` block gets a fresh database, migrated, dropped afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { migrateToLatest, openDatabase, parseDatabaseUrl } from '../../src/storage/database';
import { KnexStore } from '../../src/storage/knex-store';

export type DatabaseKind = 'sqlite' | 'mysql';

export function databaseKinds(): DatabaseKind[] {
  return process.env.MYSQL_URL ? ['sqlite', 'mysql'] : ['sqlite'];
}

let counter = 0;

export class TestDatabase {
  knex!: Knex;
  store!: KnexStore;
  /** A DATABASE_URL for this database, for server processes started by a test. */
  url!: string;
  private cleanup: () => Promise<void> = async () => {};

  constructor(readonly kind: DatabaseKind) {}

  /** Creates the database; migrates it unless `migrate` is false (a deployment's first start). */
  async setup({ migrate = true } = {}): Promise<void> {
    if (this.kind === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'o2d-test-'));
      this.url = `sqlite:${join(dir, 'test.sqlite')}`;
      this.cleanup = async () => rmSync(dir, { recursive: true, force: true });
    } else {
      const server = new URL(process.env.MYSQL_URL!);
      const name = `o2d_test_${process.pid}_${++counter}`;
      const admin = knexFactory({ client: 'mysql2', connection: { host: server.hostname, port: Number(server.port || 3306), user: decodeURIComponent(server.username), password: decodeURIComponent(server.password) } });
      await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
      server.pathname = `/${name}`;
      this.url = server.href;
      this.cleanup = async () => {
        await admin.raw(`DROP DATABASE IF EXISTS \`${name}\``);
        await admin.destroy();
      };
    }
    this.knex = openDatabase(parseDatabaseUrl(this.url));
    if (migrate) await migrateToLatest(this.knex);
    this.store = new KnexStore(this.knex);
  }

  /** A second, independent connection pool to the same database (as another process would have). */
  openAnother(): KnexStore {
    return new KnexStore(openDatabase(parseDatabaseUrl(this.url)));
  }

  async teardown(): Promise<void> {
    await this.knex?.destroy();
    await this.cleanup();
  }
}

/** Declares `describe('[kind] title')` once per database kind, with a fresh database each. */
export function forEachDatabase(title: string, body: (db: TestDatabase) => void): void {
  for (const kind of databaseKinds()) {
    describe(`[${kind}] ${title}`, function () {
      const db = new TestDatabase(kind);
      before(async function () {
        this.timeout(60_000);
        await db.setup();
      });
      after(async () => db.teardown());
      body(db);
    });
  }
}
