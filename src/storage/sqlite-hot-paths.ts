/**
 * The queries every device poll, token check and introspection runs, as statements prepared
 * once on SQLite's own connection. Through Knex each of them was compiled to SQL, prepared
 * again and queued behind the single pooled connection: more time than the database work.
 *
 * The connection is the one Knex pools (SQLite has one writer, the pool has one connection),
 * borrowed for its better-sqlite3 handle and given back. better-sqlite3 is synchronous, so a
 * statement here runs whole between two Knex queries. It never runs inside a Knex
 * transaction that is waiting between its statements: while one is open (`inTransaction`),
 * the caller takes the Knex path, which queues behind the transaction as before. So the
 * writes of several statements that requests make (an approved code exchanged for tokens, a
 * refresh token rotated) run here too, in the group commit, each in a savepoint of its own:
 * through a Knex transaction, every other request fell back to Knex for as long as it stayed
 * open across its turns of the event loop (in the mixed load, where 2 % of requests are
 * exchanges, a request cost 153 µs of CPU against about 85 for its parts; bench/README.md).
 */
import type { Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import { GroupCommit } from './sqlite-group-commit';
import type { NewAccessToken, NewDeviceAuthorization, NewRefreshToken, PollAndExchange, PollOutcome } from './store';
import { POLL_DUE_SQL } from './poll-rule';
import { walCheckpointerOf } from './database';
import type { Checkpointer } from './sqlite-checkpointer';

type Row = Record<string, unknown>;

/** The columns both token tables share, in the order of `tokenValues`. */
const TOKEN_COLUMNS = 'id, token_hash, client_id, user_id, scope, device_authorization_id, created_at, expires_at, revoked_at';
const tokenValues = (t: NewAccessToken) => [t.id, t.tokenHash, t.clientId, t.userId, t.scopes.join(' '), t.deviceAuthorizationId, t.createdAt, t.expiresAt] as const;

/** The lookups by a primary or unique key on the hot paths (their query plans are tested). */
export const UNIQUE_LOOKUPS = [
  { table: 'clients', column: 'id' },
  { table: 'users', column: 'id' },
  { table: 'device_authorizations', column: 'device_code_hash' },
  { table: 'access_tokens', column: 'token_hash' },
  { table: 'refresh_tokens', column: 'token_hash' },
] as const;
export type UniqueLookup = (typeof UNIQUE_LOOKUPS)[number];

export class SqliteHotPaths {
  private readonly statements;
  /** The read statements, prepared on first use (findOne, selectFirst). */
  private readonly reads = new Map<string, BetterSqlite3.Statement>();
  /** The writes of one event-loop turn, committed together (sqlite-group-commit.ts). */
  private readonly commits: GroupCommit;

  private constructor(private readonly db: BetterSqlite3.Database, slowDownStepSeconds: number, checkpointer?: Checkpointer) {
    this.commits = new GroupCommit(db, () => this.usable, checkpointer);
    const prepare = (sql: string) => db.prepare(sql);
    this.statements = {
      createDeviceAuthorization: prepare(
        'INSERT INTO device_authorizations (id, device_code_hash, user_code_hash, client_id, scope, status, user_id, created_at, expires_at, poll_interval, last_polled_at, decided_at, request_ip, user_agent) ' +
          "VALUES (?, ?, ?, ?, ?, 'pending', NULL, ?, ?, ?, NULL, NULL, ?, ?)",
      ),
      // The same conditional writes as the Knex path: the first decides, the second is slow_down.
      acceptPoll: prepare(
        `UPDATE device_authorizations SET last_polled_at = ? WHERE id = ? AND ${POLL_DUE_SQL}`,
      ),
      slowDown: prepare(`UPDATE device_authorizations SET poll_interval = poll_interval + ${Number(slowDownStepSeconds)} WHERE id = ? RETURNING poll_interval`),
      // Single use: only the first exchange of an approved code changes its row.
      consume: prepare(`UPDATE device_authorizations SET status = 'consumed' WHERE id = ? AND status = 'approved'`),
      rotate: prepare('UPDATE refresh_tokens SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL'),
      insertAccessToken: prepare(`INSERT INTO access_tokens (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)`),
      insertRefreshToken: prepare(`INSERT INTO refresh_tokens (${TOKEN_COLUMNS}, rotated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`),
    };
    // Called inside a batch's transaction, better-sqlite3 runs these in a savepoint: a failure
    // (a constraint) undoes the whole exchange or rotation, not only its last statement.
    this.issueAtomically = db.transaction((decide: () => boolean, access: NewAccessToken, refresh?: NewRefreshToken) => {
      if (!decide()) return false;
      this.statements.insertAccessToken.run(...tokenValues(access));
      if (refresh) this.statements.insertRefreshToken.run(...tokenValues(refresh));
      return true;
    });
  }

  private readonly issueAtomically: (decide: () => boolean, access: NewAccessToken, refresh?: NewRefreshToken) => boolean;

  /** Borrows the pooled connection's handle; undefined when the driver is not better-sqlite3. */
  static async open(knex: Knex, slowDownStepSeconds: number): Promise<SqliteHotPaths | undefined> {
    const connection = (await knex.client.acquireConnection()) as BetterSqlite3.Database;
    try {
      if (typeof connection?.prepare !== 'function') return undefined;
      return new SqliteHotPaths(connection, slowDownStepSeconds, walCheckpointerOf(knex));
    } finally {
      await knex.client.releaseConnection(connection);
    }
  }

  /** False while a Knex transaction holds the connection, or once the pool has closed it. */
  get usable(): boolean {
    return this.db.open && !this.db.inTransaction;
  }

  /** The connection is gone (the pool replaced or closed it): a new one must be borrowed. */
  get closed(): boolean {
    return !this.db.open;
  }

  /** One row by a unique column (the lookups of clients, users, device codes and tokens). */
  findOne(table: UniqueLookup['table'], column: UniqueLookup['column'], value: string): Row | undefined {
    const statement = this.prepared(`${table}.${column}`, () => {
      if (!UNIQUE_LOOKUPS.some((l) => l.table === table && l.column === column)) throw new Error(`no unique lookup ${table}.${column}`);
      return `SELECT * FROM ${table} WHERE ${column} = ?`;
    });
    return statement.get(value) as Row | undefined;
  }

  /**
   * The first row of one of the store's fixed read statements (its joined reads): `sql` is
   * always one of a few constants, never built from input.
   */
  selectFirst(sql: string, params: readonly string[]): Row | undefined {
    return this.prepared(sql, () => sql).get(...params) as Row | undefined;
  }

  /** The statement kept under `key`, prepared from `sql()` on first use. */
  private prepared(key: string, sql: () => string): BetterSqlite3.Statement {
    let statement = this.reads.get(key);
    if (!statement) {
      statement = this.db.prepare(sql());
      this.reads.set(key, statement);
    }
    return statement;
  }

  /** `fallback`: the same insert through Knex, if a Knex transaction holds the connection by then. */
  createDeviceAuthorization(a: NewDeviceAuthorization, fallback: () => Promise<void>): Promise<void> {
    const insert = this.statements.createDeviceAuthorization;
    return this.commits.run(() => {
      insert.run(a.id, a.deviceCodeHash, a.userCodeHash, a.clientId, a.scopes.join(' '), a.createdAt, a.expiresAt, a.pollInterval, a.requestIp, a.userAgent);
    }, fallback);
  }

  recordPoll(id: string, now: number, fallback: () => Promise<PollOutcome>): Promise<PollOutcome> {
    return this.commits.run(() => this.recordPollNow(id, now), fallback);
  }

  /** An approved code consumed and its tokens stored, or false (not approved, or consumed already). */
  exchange(authorizationId: string, access: NewAccessToken, refresh: NewRefreshToken | undefined, fallback: () => Promise<boolean>): Promise<boolean> {
    return this.commits.run(() => this.issueAtomically(() => this.statements.consume.run(authorizationId).changes === 1, access, refresh), fallback);
  }

  /**
   * The poll of an approved code and, if it is accepted, its exchange: one job of one batch.
   * The poll stays recorded if the exchange is undone (as when they were two batches).
   */
  recordPollAndExchange(authorizationId: string, now: number, access: NewAccessToken, refresh: NewRefreshToken | undefined, fallback: () => Promise<PollAndExchange>): Promise<PollAndExchange> {
    return this.commits.run(() => {
      const poll = this.recordPollNow(authorizationId, now);
      const exchanged = poll.accepted && this.issueAtomically(() => this.statements.consume.run(authorizationId).changes === 1, access, refresh);
      return { poll, exchanged };
    }, fallback);
  }

  /** A refresh token marked rotated and its successors stored, or false (rotated or revoked already). */
  rotateRefreshToken(oldId: string, now: number, access: NewAccessToken, refresh: NewRefreshToken, fallback: () => Promise<boolean>): Promise<boolean> {
    return this.commits.run(() => this.issueAtomically(() => this.statements.rotate.run(now, oldId).changes === 1, access, refresh), fallback);
  }

  private recordPollNow(id: string, now: number): PollOutcome {
    if (this.statements.acceptPoll.run(now, id, now).changes === 1) return { accepted: true };
    // .all(), not .get(): a RETURNING statement left unfinished by .get() keeps a read open on
    // the WAL, which then cannot be reset and grows without bound.
    const [row] = this.statements.slowDown.all(id) as Array<{ poll_interval: number }>;
    return { accepted: false, interval: Number(row?.poll_interval) };
  }
}
