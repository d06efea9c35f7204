/**
 * The queries every device poll, token check and introspection runs, as statements prepared
 * once on SQLite's own connection. Through Knex each of them was compiled to SQL, prepared
 * again and queued behind the single pooled connection: more time than the database work.
 *
 * The connection is the one Knex pools (SQLite has one writer, the pool has one connection),
 * borrowed for its better-sqlite3 handle and given back. better-sqlite3 is synchronous, so a
 * statement here runs whole between two Knex queries. It never runs inside a Knex
 * transaction that is waiting between its statements: while one is open (`inTransaction`),
 * the caller takes the Knex path, which queues behind the transaction as before.
 */
import type { Knex } from 'knex';
import type BetterSqlite3 from 'better-sqlite3';
import type { PollOutcome } from './store';

type Row = Record<string, unknown>;

export class SqliteHotPaths {
  private readonly statements;

  private constructor(private readonly db: BetterSqlite3.Database, slowDownStepSeconds: number) {
    const prepare = (sql: string) => db.prepare(sql);
    this.statements = {
      client: prepare('SELECT * FROM clients WHERE id = ?'),
      user: prepare('SELECT * FROM users WHERE id = ?'),
      deviceAuthorization: prepare('SELECT * FROM device_authorizations WHERE device_code_hash = ?'),
      accessToken: prepare('SELECT * FROM access_tokens WHERE token_hash = ?'),
      refreshToken: prepare('SELECT * FROM refresh_tokens WHERE token_hash = ?'),
      // The same conditional writes as the Knex path: the first decides, the second is slow_down.
      acceptPoll: prepare(
        'UPDATE device_authorizations SET last_polled_at = ? WHERE id = ? AND (last_polled_at IS NULL OR last_polled_at + poll_interval * 1000 <= ?)',
      ),
      slowDown: prepare(`UPDATE device_authorizations SET poll_interval = poll_interval + ${Number(slowDownStepSeconds)} WHERE id = ? RETURNING poll_interval`),
    };
  }

  /** Borrows the pooled connection's handle; undefined when the driver is not better-sqlite3. */
  static async open(knex: Knex, slowDownStepSeconds: number): Promise<SqliteHotPaths | undefined> {
    const connection = (await knex.client.acquireConnection()) as BetterSqlite3.Database;
    try {
      if (typeof connection?.prepare !== 'function') return undefined;
      return new SqliteHotPaths(connection, slowDownStepSeconds);
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

  findClient(id: string): Row | undefined {
    return this.statements.client.get(id) as Row | undefined;
  }

  findUserById(id: string): Row | undefined {
    return this.statements.user.get(id) as Row | undefined;
  }

  findDeviceAuthorizationByDeviceCode(hash: string): Row | undefined {
    return this.statements.deviceAuthorization.get(hash) as Row | undefined;
  }

  findAccessToken(hash: string): Row | undefined {
    return this.statements.accessToken.get(hash) as Row | undefined;
  }

  findRefreshToken(hash: string): Row | undefined {
    return this.statements.refreshToken.get(hash) as Row | undefined;
  }

  recordPoll(id: string, now: number): PollOutcome {
    if (this.statements.acceptPoll.run(now, id, now).changes === 1) return { accepted: true };
    const row = this.statements.slowDown.get(id) as { poll_interval: number } | undefined;
    return { accepted: false, interval: Number(row?.poll_interval) };
  }
}
