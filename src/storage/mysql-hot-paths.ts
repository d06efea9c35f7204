/**
 * MySQL's hot statements (issue #8): a poll's and a resource call's fixed SQL run straight on
 * a connection of Knex's own pool, as server-side prepared statements.
 *
 * Why not `knex.raw`: a profile of the MariaDB poll showed Knex's runner (building and
 * formatting the raw query, its events, its bindings rewrite) as a visible share of the CPU
 * per request. Here the SQL text is fixed, so a statement is prepared once per connection
 * (mysql2 keeps it), and the server does not parse it again either: the poll's server CPU
 * went from 450 to 373 µs a request in paired runs. The pool is Knex's: one `databasePoolSize`, the same
 * connection checks, and the pool metrics count these queries too.
 */
import type { Knex } from 'knex';

/** The parts of a pooled mysql2 connection used here. */
interface Mysql2Connection {
  execute(
    options: { sql: string; values: unknown[] },
    callback: (err: Error | null, result: unknown) => void,
  ): void;
}

/** The parts of Knex's client that lend a pooled connection. */
interface PoolingClient {
  acquireConnection(): Promise<Mysql2Connection>;
  releaseConnection(connection: Mysql2Connection): Promise<void>;
}

/** What a write statement answers (mysql2's ResultSetHeader). */
export interface WriteResult {
  affectedRows: number;
  insertId: number;
}

export class MysqlHotPaths {
  private readonly client: PoolingClient;

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
      return await new Promise((resolve, reject) => {
        connection.execute({ sql, values }, (err, result) => (err ? reject(err) : resolve(result)));
      });
    } finally {
      // A connection a fatal error broke goes back too: the pool's validation discards it.
      void this.client.releaseConnection(connection);
    }
  }
}
