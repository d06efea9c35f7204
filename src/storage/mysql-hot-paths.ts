/**
 * MySQL's hot statements (issue #8): a poll's and a resource call's fixed SQL run straight on
 * a connection of Knex's own pool, as server-side prepared statements.
 *
 * Why not `knex.raw`: a profile of the MariaDB poll showed Knex's runner (building and
 * formatting the raw query, its events, its bindings rewrite) as a visible share of the CPU
 * per request. Here the SQL text is fixed, so each connection prepares a statement once and
 * this class keeps its handle; the server does not parse the statement again either. The
 * poll's server CPU went from 450 to 373 µs a request in paired runs. The pool is Knex's: one
 * `databasePoolSize`, the same connection checks, and the pool metrics count these queries.
 */
import type { Knex } from 'knex';

/** A statement prepared on one connection (mysql2's PreparedStatementInfo). */
interface PreparedStatement {
  execute(values: unknown[], callback: (err: Error | null, result: unknown) => void): void;
}

/** The part of a pooled mysql2 connection used here. */
interface Mysql2Connection {
  prepare(sql: string, callback: (err: Error | null, statement: PreparedStatement) => void): void;
}

/** The parts of Knex's client that lend a pooled connection. */
interface PoolingClient {
  acquireConnection(): Promise<Mysql2Connection>;
  releaseConnection(connection: Mysql2Connection): Promise<void>;
}

/** MySQL's error for executing a statement the server does not know. */
const ER_UNKNOWN_STMT_HANDLER = 1243;

/** What a write statement answers (mysql2's ResultSetHeader). */
export interface WriteResult {
  affectedRows: number;
  insertId: number;
}

export class MysqlHotPaths {
  private readonly client: PoolingClient;
  /**
   * Each connection's prepared statements by SQL text, held here rather than looked up in
   * mysql2's cache on every call (connection.execute queues a cached "prepare" command and
   * builds a cache key from the SQL text each time). A connection the pool drops takes its
   * statements with it; the server frees them when the connection closes.
   */
  private readonly prepared = new WeakMap<Mysql2Connection, Map<string, PreparedStatement>>();

  constructor(knex: Knex) {
    this.client = knex.client as unknown as PoolingClient;
  }

  /** The rows of a SELECT. */
  select<Row>(sql: string, values: unknown[]): Promise<Row[]> {
    return this.execute(sql, values) as Promise<Row[]>;
  }

  /** An INSERT, UPDATE or DELETE. */
  write(sql: string, values: unknown[]): Promise<WriteResult> {
    return this.execute(sql, values) as Promise<WriteResult>;
  }

  private async execute(sql: string, values: unknown[]): Promise<unknown> {
    const connection = await this.client.acquireConnection();
    try {
      const statement = this.prepared.get(connection)?.get(sql) ?? (await this.prepare(connection, sql));
      return await new Promise((resolve, reject) => {
        statement.execute(values, (err, result) => {
          if (!err) return resolve(result);
          // The server no longer knows the statement (closed on its side): prepare it again next time.
          if ((err as { errno?: number }).errno === ER_UNKNOWN_STMT_HANDLER) this.prepared.get(connection)?.delete(sql);
          reject(err);
        });
      });
    } finally {
      // A connection a fatal error broke goes back too: the pool's validation discards it.
      void this.client.releaseConnection(connection);
    }
  }

  private prepare(connection: Mysql2Connection, sql: string): Promise<PreparedStatement> {
    return new Promise((resolve, reject) => {
      connection.prepare(sql, (err, statement) => {
        if (err) return reject(err);
        let statements = this.prepared.get(connection);
        if (!statements) this.prepared.set(connection, (statements = new Map()));
        statements.set(sql, statement);
        resolve(statement);
      });
    });
  }
}
