/**
 * Seeds a migrated database with the benchmark's dataset, fast: SQL straight into the tables
 * (the same columns KnexStore writes), prepared statements in large transactions on SQLite,
 * multi-row INSERTs on MySQL. Foreign keys are checked by construction, not row by row.
 *
 *   DATABASE_URL=sqlite:/tmp/b.sqlite npm run bench:seed            # small tables
 *   DATABASE_URL=sqlite:/tmp/b.sqlite npm run bench:seed -- --scale  # 1M flows, 10M tokens
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { createConnection } from 'mysql2/promise';
import { deviceCodeKey, hashPassword, tokenKey } from '../src/helpers/secrets';
import { migrateToLatest, mysqlConnectionOptions, openDatabase, parseDatabaseUrl, type DatabaseTarget } from '../src/storage/database';
import {
  BENCH_CLIENT,
  BENCH_RESOURCE_SERVER,
  BENCH_RESOURCE_SERVER_SECRET,
  BENCH_SCOPES,
  BENCH_USER,
  DEVICE_CODE_GRANT,
  RANGES,
  SCALE,
  SMALL,
  accessToken,
  deviceCode,
  type DatasetSize,
} from './dataset';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const HOUR = 3600_000;

type Row = (string | number | null)[];

interface Table {
  name: string;
  columns: string[];
  count: number;
  row: (i: number) => Row;
}

/** Every row of the dataset, as table generators (nothing is held in memory). */
function tables(size: DatasetSize, now: number): Table[] {
  const flowColumns = ['id', 'device_code_hash', 'user_code_hash', 'client_id', 'scope', 'status', 'user_id', 'created_at', 'expires_at', 'poll_interval', 'last_polled_at', 'decided_at', 'request_ip', 'user_agent'];
  const flow = (base: number, status: string, interval: number, lastPolled: number | null, user: string | null) => (i: number): Row => {
    const n = base + i;
    return [`da${n}`, deviceCodeKey(deviceCode(n)), sha256(`user_code:${n}`), BENCH_CLIENT, 'profile email', status, user, now, now + 6 * HOUR, interval, lastPolled, user ? now : null, '127.0.0.1', 'bench'];
  };
  return [
    { name: 'device_authorizations', columns: flowColumns, count: size.pending, row: flow(RANGES.pending, 'pending', 1, null, null) },
    // An interval of an hour and a poll just now: every poll of these is too early.
    { name: 'device_authorizations', columns: flowColumns, count: size.slow, row: flow(RANGES.slow, 'pending', 3600, now, null) },
    { name: 'device_authorizations', columns: flowColumns, count: size.approved, row: flow(RANGES.approved, 'approved', 1, null, BENCH_USER) },
    { name: 'device_authorizations', columns: flowColumns, count: size.consumed, row: flow(RANGES.consumed, 'consumed', 1, now, BENCH_USER) },
    {
      name: 'access_tokens',
      columns: ['id', 'token_hash', 'client_id', 'user_id', 'scope', 'device_authorization_id', 'created_at', 'expires_at', 'revoked_at'],
      count: size.tokens,
      row: (i) => [`at${i}`, tokenKey(accessToken(RANGES.token + i)), BENCH_CLIENT, BENCH_USER, 'profile email', `da${RANGES.consumed + (i % size.consumed)}`, now, now + 6 * HOUR, null],
    },
  ];
}

async function accounts(now: number): Promise<Table[]> {
  const clientColumns = ['id', 'name', 'type', 'secret_hash', 'allowed_scopes', 'default_scopes', 'grant_types', 'can_introspect', 'created_at'];
  const grants = `${DEVICE_CODE_GRANT} refresh_token`;
  const clients: Row[] = [
    [BENCH_CLIENT, 'Bench TV', 'public', null, BENCH_SCOPES.join(' '), 'profile', grants, 0, now],
    [BENCH_RESOURCE_SERVER, 'Bench Resource Server', 'confidential', sha256(BENCH_RESOURCE_SERVER_SECRET), BENCH_SCOPES.join(' '), 'profile', grants, 1, now],
  ];
  const user: Row = [BENCH_USER, 'bench', 'Bench User', 'bench@example.com', await hashPassword('bench-password'), 0, now];
  return [
    { name: 'clients', columns: clientColumns, count: clients.length, row: (i) => clients[i]! },
    { name: 'users', columns: ['id', 'username', 'name', 'email', 'password_hash', 'disabled', 'created_at'], count: 1, row: () => user },
  ];
}

function seedSqlite(file: string, all: Table[], progress: (text: string) => void): void {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF'); // a seed that dies is simply run again
  db.pragma('cache_size = -524288'); // 512 MiB: the random-order index inserts stay in memory longer
  db.pragma('foreign_keys = OFF');
  const BATCH = 50_000;
  for (const table of all) {
    const insert = db.prepare(`INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES (${table.columns.map(() => '?').join(', ')})`);
    const batch = db.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) insert.run(table.row(i));
    });
    for (let from = 0; from < table.count; from += BATCH) {
      batch(from, Math.min(table.count, from + BATCH));
      if (table.count > BATCH) progress(`${table.name}: ${Math.min(table.count, from + BATCH)}/${table.count}`);
    }
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.exec('ANALYZE');
  db.close();
}

async function seedMysql(target: DatabaseTarget, all: Table[], progress: (text: string) => void): Promise<void> {
  const connection = await createConnection(mysqlConnectionOptions(target));
  await connection.query('SET FOREIGN_KEY_CHECKS = 0, UNIQUE_CHECKS = 0');
  const BATCH = 2_000;
  for (const table of all) {
    const head = `INSERT INTO ${table.name} (${table.columns.join(', ')}) VALUES `;
    for (let from = 0; from < table.count; from += 20 * BATCH) {
      await connection.beginTransaction();
      for (let start = from; start < Math.min(table.count, from + 20 * BATCH); start += BATCH) {
        const rows: Row[] = [];
        for (let i = start; i < Math.min(table.count, start + BATCH); i++) rows.push(table.row(i));
        await connection.query(head + rows.map((r) => `(${r.map((v) => connection.escape(v)).join(',')})`).join(','));
      }
      await connection.commit();
      if (table.count > BATCH) progress(`${table.name}: ${Math.min(table.count, from + 20 * BATCH)}/${table.count}`);
    }
  }
  await connection.query('ANALYZE TABLE device_authorizations, access_tokens');
  await connection.end();
}

/** A database URL fit for logs and messages: without its user and password. */
export const withoutCredentials = (url: string): string => url.replace(/\/\/[^@/]*@/, '//');

/**
 * Makes a seeded database fit for another bench run: the approved flows that the mixed load
 * exchanged are approved again and the tokens issued for them deleted (seeded tokens belong
 * to the consumed range, never to these). Lets the 10-million-token database be seeded once.
 */
export async function resetDataset(databaseUrl: string): Promise<void> {
  const target = parseDatabaseUrl(databaseUrl);
  // A database seeded before the tokens were spelled as they are now would answer every
  // token the load sends with 401: say so before a run is spent on it.
  const firstToken = 'SELECT id FROM access_tokens WHERE token_hash = ?';
  const firstTokenKey = tokenKey(accessToken(RANGES.token));
  const stale = () => new Error(`${withoutCredentials(databaseUrl)} was seeded by an older bench (its tokens are stored under other keys): seed it again with \`npm run bench:seed -- --scale\``);
  const approved = [`da${RANGES.approved}`, `da${RANGES.consumed - 1}`];
  const statements: [string, unknown[]][] = [
    [`UPDATE device_authorizations SET status = 'approved', revoked_at = NULL WHERE id BETWEEN ? AND ? AND status <> 'pending'`, approved],
    ['DELETE FROM access_tokens WHERE device_authorization_id BETWEEN ? AND ?', approved],
    ['DELETE FROM refresh_tokens', []],
  ];
  if (target.dialect === 'sqlite') {
    const db = new Database(target.location);
    if (db.prepare(firstToken).get(firstTokenKey) === undefined) {
      db.close();
      throw stale();
    }
    for (const [sql, params] of statements) db.prepare(sql).run(...params);
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    return;
  }
  const connection = await createConnection(mysqlConnectionOptions(target));
  const [found] = (await connection.query(firstToken, [firstTokenKey])) as unknown as [unknown[]];
  if (found.length === 0) {
    await connection.end();
    throw stale();
  }
  for (const [sql, params] of statements) await connection.query(sql, params);
  await connection.end();
}

/** Migrates the database named by `databaseUrl` and fills it with the dataset. */
export async function seed(databaseUrl: string, size: DatasetSize, progress: (text: string) => void = () => {}): Promise<void> {
  const target = parseDatabaseUrl(databaseUrl);
  const knex = openDatabase(target);
  await migrateToLatest(knex);
  await knex.destroy();
  const now = Date.now();
  const all = [...(await accounts(now)), ...tables(size, now)];
  if (target.dialect === 'sqlite') seedSqlite(target.location, all, progress);
  else await seedMysql(target, all, progress);
}

if (require.main === module) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('bench:seed needs DATABASE_URL (sqlite:path or mysql://...) of a database to fill');
    process.exit(2);
  }
  const size = process.argv.includes('--scale') ? SCALE : SMALL;
  const started = Date.now();
  seed(url, size, (text) => process.stderr.write(`\r${text}   `))
    .then(() => console.log(`\nseeded ${JSON.stringify(size)} in ${((Date.now() - started) / 1000).toFixed(1)} s`))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}
