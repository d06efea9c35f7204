/**
 * Opens the database named by a URL and keeps every dialect quirk in one place: SQLite's
 * pragmas, MySQL's pool and error codes, and what counts as "unavailable".
 */
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { defaults } from '../config/defaults';
import { COMMIT_CHECKPOINT_PAGES, startWalCheckpointer, type Checkpointer } from './sqlite-checkpointer';
import { MigrationFiles } from './migration-files';

export const EMBEDDED_DATABASE_FILE = 'data/oauth2-devices.sqlite';
export const MIGRATIONS_DIRECTORY = join(__dirname, '..', '..', 'migrations');

export type Dialect = 'sqlite' | 'mysql';

export interface DatabaseTarget {
  dialect: Dialect;
  /** SQLite: the file path. MySQL: the connection URL. */
  location: string;
  embedded: boolean;
}

/** `undefined` -> the embedded SQLite file; `sqlite:path`; `mysql://...` (also `mariadb://`). */
export function parseDatabaseUrl(url: string | undefined, cwd = process.cwd()): DatabaseTarget {
  if (url === undefined || url === '') {
    return { dialect: 'sqlite', location: resolve(cwd, EMBEDDED_DATABASE_FILE), embedded: true };
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new Error('DATABASE_URL sqlite: needs a file path, e.g. sqlite:data/db.sqlite');
    return { dialect: 'sqlite', location: isAbsolute(path) ? path : resolve(cwd, path), embedded: false };
  }
  if (/^(mysql|mariadb):\/\//.test(url)) {
    const parsed = new URL(url.replace(/^mariadb:/, 'mysql:'));
    if (parsed.pathname.length <= 1) throw new Error('DATABASE_URL needs a database name, e.g. mysql://user@host:3306/oauth2');
    return { dialect: 'mysql', location: parsed.href, embedded: false };
  }
  throw new Error(`DATABASE_URL must start with mysql://, mariadb:// or sqlite:, got ${JSON.stringify(url.split(':')[0])}`);
}

/** Where the migrations are and where Knex records them; also for readiness checks. */
export const MIGRATIONS_CONFIG: Knex.MigratorConfig = { migrationSource: new MigrationFiles(MIGRATIONS_DIRECTORY), tableName: 'knex_migrations' };

export interface DatabaseOptions {
  /** MySQL: connections in the pool (the `databasePoolSize` setting). */
  poolSize?: number;
  /** SQLite: MB of page cache (the `sqliteCacheMb` setting). */
  sqliteCacheMb?: number;
  /** SQLite: checkpoint the WAL on a worker thread instead of in the committing request. */
  checkpointInWorker?: boolean;
}

/** MySQL connections per server process, unless configured (see `databasePoolSize`). */
export const DEFAULT_POOL_SIZE = defaults.databasePoolSize;

/** The mysql2 connection options of a mysql:// target (also for tools that connect directly). */
export function mysqlConnectionOptions(target: DatabaseTarget) {
  const url = new URL(target.location);
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)),
    charset: 'utf8mb4',
    connectTimeout: 5000,
  };
}

export function knexConfig(target: DatabaseTarget, options: DatabaseOptions = {}): Knex.Config {
  const migrations = MIGRATIONS_CONFIG;
  if (target.dialect === 'sqlite') {
    return {
      client: 'better-sqlite3',
      connection: { filename: target.location },
      useNullAsDefault: true,
      // One connection: SQLite has one writer, and better-sqlite3 is synchronous anyway.
      pool: {
        min: 1,
        max: 1,
        afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
          conn.pragma('journal_mode = WAL'); // readers do not block the writer
          conn.pragma('synchronous = NORMAL'); // durable at checkpoints; safe with WAL
          conn.pragma('foreign_keys = ON'); // off by default in SQLite
          conn.pragma('busy_timeout = 5000'); // another process (a migration, the CLI) may hold the lock
          conn.pragma(`cache_size = ${-1024 * (options.sqliteCacheMb ?? defaults.sqliteCacheMb)}`); // negative: KiB
          // With a checkpointer thread, a commit copies only what the thread has not (see there).
          if (options.checkpointInWorker) conn.pragma(`wal_autocheckpoint = ${COMMIT_CHECKPOINT_PAGES}`);
          done(null, conn);
        },
      },
      migrations,
    };
  }
  return {
    client: 'mysql2',
    connection: mysqlConnectionOptions(target),
    pool: { min: 0, max: options.poolSize ?? DEFAULT_POOL_SIZE },
    // A request waits at most this long for a pooled connection before it is told to retry.
    acquireConnectionTimeout: 5000,
    migrations,
  };
}

/** The WAL checkpointer of each SQLite database that openDatabase opened. */
const walCheckpointers = new WeakMap<Knex, Checkpointer>();

/** The WAL checkpointer thread of a SQLite database opened by openDatabase, to tell it of commits. */
export function walCheckpointerOf(knex: Knex): Checkpointer | undefined {
  return walCheckpointers.get(knex);
}

/** Opens the database; on SQLite with a WAL checkpointer thread that `destroy()` stops. */
export function openDatabase(target: DatabaseTarget, options: Omit<DatabaseOptions, 'checkpointInWorker'> = {}): Knex {
  if (target.dialect !== 'sqlite') return knexFactory(knexConfig(target, options));
  mkdirSync(dirname(target.location), { recursive: true });
  const knex = knexFactory(knexConfig(target, Object.assign({}, options, { checkpointInWorker: true })));
  const checkpointer = startWalCheckpointer(target.location);
  walCheckpointers.set(knex, checkpointer);
  // knex.destroy() ends in its client's destroy(): stop the thread there, then close.
  const client = knex.client as { destroy: (callback?: unknown) => Promise<void> };
  const destroy = client.destroy.bind(client);
  client.destroy = async (callback?: unknown) => {
    await checkpointer.stop();
    return destroy(callback);
  };
  return knex;
}

/** How long a starting process waits for another one that holds the migration lock. */
export const MIGRATION_LOCK_WAIT_MS = 120_000;

/**
 * Migrates to the latest version. Several processes may start at once (a deployment, an
 * upgrade): knex lets one hold the migration lock and fails the others with MigrationLocked;
 * those wait and try again, and then find nothing left to do. Two processes creating knex's
 * own bookkeeping tables at the same moment is the same race, one step earlier.
 */
export async function migrateToLatest(knex: Knex, waitMs = MIGRATION_LOCK_WAIT_MS): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      await knex.migrate.latest();
      return;
    } catch (err) {
      if (!isMigrationRace(err) || Date.now() > deadline) throw err;
      if ((err as { name?: string }).name === 'MigrationLocked') await dropDuplicateLockRows(knex);
      await new Promise((resume) => setTimeout(resume, 200 + Math.random() * 300));
    }
  }
}

/**
 * knex creates its lock row with a read-then-insert, so two processes starting on a new
 * database can both insert one. Its lock (`UPDATE ... WHERE is_locked = 0` must change exactly
 * one row) can then never be taken. Nobody can hold a lock over two rows, so the extra row is
 * dropped safely.
 */
async function dropDuplicateLockRows(knex: Knex): Promise<void> {
  const table = 'knex_migrations_lock';
  const rows: Array<{ index: number }> = await knex(table).select('index').orderBy('index');
  if (rows.length > 1) await knex(table).where('index', '>', rows[0]!.index).delete();
}

function isMigrationRace(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string };
  return (
    e?.name === 'MigrationLocked' ||
    e?.code === 'ER_TABLE_EXISTS_ERROR' ||
    (isUniqueViolation(err) && /knex_migrations/.test(String(e?.message))) ||
    /table `?knex_migrations\w*`? already exists/i.test(String(e?.message))
  );
}

export function dialectOf(knex: Knex): Dialect {
  return knex.client.config.client === 'mysql2' ? 'mysql' : 'sqlite';
}

/** A unique index refused the row (SQLite and MySQL error codes). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; errno?: number };
  return e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || e?.code === 'ER_DUP_ENTRY' || e?.errno === 1062;
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
]);

/**
 * The database is down, unreachable, overloaded or locked: worth a retry, not a bug. mysql2
 * marks every error that ends its connection `fatal`; some carry no code, such as the ROLLBACK
 * knex attempts on a connection that died inside a transaction (the database rolls it back).
 */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: string; name?: string; fatal?: boolean };
  return UNAVAILABLE_CODES.has(e?.code ?? '') || e?.name === 'KnexTimeoutError' || e?.fatal === true;
}
