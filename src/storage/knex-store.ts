/**
 * The default Store, on Knex: the same queries on SQLite (better-sqlite3) and MySQL/MariaDB
 * (mysql2). Every one-time transition is a conditional UPDATE whose affected-row count says
 * who won, so concurrent polls in any number of processes cannot both succeed.
 */
import type { Knex } from 'knex';
import { dialectOf, isUnavailable, isUniqueViolation, MIGRATIONS_CONFIG } from './database';
import { SqliteHotPaths, UNIQUE_LOOKUPS, type UniqueLookup } from './sqlite-hot-paths';
import { MysqlHotPaths } from './mysql-hot-paths';
import { attemptDelaySeconds } from './attempt-policy';
import { POLL_DUE_SQL, SLOW_DOWN_STEP_SECONDS } from './poll-rule';
import {
  DuplicateUserCode,
  StoreUnavailable,
  type AccessTokenRecord,
  type AccessTokenWithOwners,
  type ApprovedDeviceRecord,
  type AttemptPolicy,
  type ClientRecord,
  type ClientWithAccessToken,
  type ClientWithDeviceAuthorization,
  type DeviceAuthorizationRecord,
  type NewAccessToken,
  type NewDeviceAuthorization,
  type NewRefreshToken,
  type PurgeCounts,
  type RefreshTokenRecord,
  type PollAndExchange,
  type PollOutcome,
  type PoolStats,
  type SessionRecord,
  type Store,
  type UserRecord,
} from './store';

export { SLOW_DOWN_STEP_SECONDS } from './poll-rule';

/** Attempt counters older than the longest lockout a policy may set (7 days) are obsolete. */
const MAX_ATTEMPT_WINDOW_MS = 7 * 86400 * 1000;

type Row = Record<string, unknown>;
/** A joined row split by table; a table the LEFT JOIN found no row in is absent or undefined. */
type RowsByTable = Partial<Record<string, Row>>;

/**
 * The columns each hot table's record is read from. Not read: clients' and users' created_at,
 * device_authorizations' expired_noted_at (no record carries them; a test holds this list to
 * the schema, so a new column is a decision, not an omission).
 */
export const RECORD_COLUMNS = {
  clients: ['id', 'name', 'type', 'secret_hash', 'allowed_scopes', 'default_scopes', 'grant_types', 'can_introspect', 'access_token_lifetime', 'refresh_token_lifetime'],
  users: ['id', 'username', 'name', 'email', 'password_hash', 'disabled'],
  device_authorizations: [
    'id', 'device_code_hash', 'user_code_hash', 'client_id', 'scope', 'status', 'user_id', 'created_at', 'expires_at',
    'poll_interval', 'last_polled_at', 'decided_at', 'request_ip', 'user_agent', 'revoked_at',
  ],
  access_tokens: ['id', 'token_hash', 'client_id', 'user_id', 'scope', 'device_authorization_id', 'created_at', 'expires_at', 'revoked_at'],
  refresh_tokens: ['id', 'token_hash', 'client_id', 'user_id', 'scope', 'device_authorization_id', 'created_at', 'expires_at', 'rotated_at', 'revoked_at'],
} as const;
type HotTable = keyof typeof RECORD_COLUMNS;

/**
 * MySQL: a table's row as one JSON column (NULL when a LEFT JOIN found no row). mysql2 parses
 * the definition of every column of every result, and that dominates a small read: measured
 * here, one prepared lookup cost 68 µs of client CPU with 30 columns and 31 µs with one. A
 * poll's read returns two columns instead of 25, a token check three instead of 25.
 */
const jsonRow = (table: HotTable): string =>
  `IF(${table}.id IS NULL, NULL, JSON_OBJECT(${RECORD_COLUMNS[table].map((c) => `'${c}', ${table}.${c}`).join(', ')})) AS ${table}`;

/** A JSON row as MySQL sends it: text on MariaDB (JSON is LONGTEXT there), parsed already on MySQL. */
function parseJsonRow(value: unknown): Row | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'string' ? (JSON.parse(value) as Row) : (value as Row);
}

/** MySQL: one hot table's row by a primary or unique key, as a JSON column named after the table. */
const MYSQL_LOOKUPS = new Map(UNIQUE_LOOKUPS.map(({ table, column }) => [`${table}.${column}`, `SELECT ${jsonRow(table)} FROM ${table} WHERE ${column} = ? LIMIT 1`]));

/**
 * Reads that join the rows one request needs into one statement, for MySQL: one round trip
 * instead of two or three, each table's row one JSON column (jsonRow).
 */
export const JOINED_LOOKUPS = {
  /** The token endpoint's client and the device code it polls (a code of any client: the grant compares). */
  clientAndDeviceAuthorization:
    `SELECT ${jsonRow('clients')}, ${jsonRow('device_authorizations')} FROM clients ` +
    'LEFT JOIN device_authorizations ON device_authorizations.device_code_hash = ? WHERE clients.id = ?',
  /** An access token with the person and the client it speaks for. */
  accessTokenWithOwners:
    `SELECT ${jsonRow('access_tokens')}, ${jsonRow('users')}, ${jsonRow('clients')} FROM access_tokens ` +
    'LEFT JOIN users ON users.id = access_tokens.user_id LEFT JOIN clients ON clients.id = access_tokens.client_id ' +
    'WHERE access_tokens.token_hash = ?',
  /**
   * An introspecting client and the access token it asks about (of any client), with the
   * token's user: client authentication and the token check in one read.
   */
  clientAndAccessTokenWithUser:
    `SELECT ${jsonRow('clients')}, ${jsonRow('access_tokens')}, ${jsonRow('users')} FROM clients ` +
    'LEFT JOIN access_tokens ON access_tokens.token_hash = ? LEFT JOIN users ON users.id = access_tokens.user_id WHERE clients.id = ?',
} as const;
export type JoinedLookup = keyof typeof JOINED_LOOKUPS;

/** SQLite: a table's row as a JSON array of its RECORD_COLUMNS, in that order. */
const sqliteJsonRow = (table: HotTable): string => `json_array(${RECORD_COLUMNS[table].map((c) => `${table}.${c}`).join(', ')})`;

/**
 * The same reads on SQLite, as one statement with the joined rows in correlated subqueries
 * (same parameters, same order). A statement costs more than the rows it reads here: measured
 * on the bench data, a token with its user and client took 10-16 µs as one statement against
 * 17-22 µs as three lookups. A JOIN was slower than either (31 µs): with one user and three
 * clients, the planner scans those tables instead of using their keys.
 */
export const SQLITE_JOINED_LOOKUPS: Record<JoinedLookup, string> = {
  clientAndDeviceAuthorization:
    `SELECT ${sqliteJsonRow('clients')} AS clients, (SELECT ${sqliteJsonRow('device_authorizations')} FROM device_authorizations ` +
    'WHERE device_authorizations.device_code_hash = ?) AS device_authorizations FROM clients WHERE clients.id = ?',
  accessTokenWithOwners:
    `SELECT ${sqliteJsonRow('access_tokens')} AS access_tokens, ` +
    `(SELECT ${sqliteJsonRow('users')} FROM users WHERE users.id = access_tokens.user_id) AS users, ` +
    `(SELECT ${sqliteJsonRow('clients')} FROM clients WHERE clients.id = access_tokens.client_id) AS clients ` +
    'FROM access_tokens WHERE access_tokens.token_hash = ?',
  // Subqueries here too, each reading one table by its key whatever the table statistics say
  // (LEFT JOINs from the client were planned as scans of clients and users with the bench's
  // few rows). The user's subquery finds the token again by its hash (the same index pages,
  // in cache), so the hash is bound twice: SQLITE_JOINED_PARAMS.
  clientAndAccessTokenWithUser:
    `SELECT ${sqliteJsonRow('clients')} AS clients, ` +
    `(SELECT ${sqliteJsonRow('access_tokens')} FROM access_tokens WHERE access_tokens.token_hash = ?) AS access_tokens, ` +
    `(SELECT ${sqliteJsonRow('users')} FROM users WHERE users.id = ` +
    '(SELECT access_tokens.user_id FROM access_tokens WHERE access_tokens.token_hash = ?)) AS users ' +
    'FROM clients WHERE clients.id = ?',
};

/**
 * The parameters of a SQLITE_JOINED_LOOKUPS statement as indices into its lookup's parameters
 * (those of JOINED_LOOKUPS), where they differ.
 */
export const SQLITE_JOINED_PARAMS: Partial<Record<JoinedLookup, readonly number[]>> = {
  clientAndAccessTokenWithUser: [0, 0, 1],
};

/** A row of SQLITE_JOINED_LOOKUPS back to column names (NULL: the subquery found no row). */
function parseSqliteJsonRow(table: HotTable, value: unknown): Row | undefined {
  if (value === null || value === undefined) return undefined;
  const values = JSON.parse(String(value)) as unknown[];
  const row: Row = {};
  RECORD_COLUMNS[table].forEach((column, i) => (row[column] = values[i]));
  return row;
}

/** A joined read's row (one column per table) split into its tables' rows, each parsed by `parse`. */
function splitByTable(columns: Row | undefined, parse: (table: HotTable, value: unknown) => Row | undefined): RowsByTable | undefined {
  if (!columns) return undefined;
  const split: RowsByTable = {};
  for (const [table, value] of Object.entries(columns)) split[table] = parse(table as HotTable, value);
  return split;
}

/**
 * MySQL's poll in one statement (see pollInOneStatement). Parameters: now, the slow_down
 * step, now, now, the authorization's id.
 */
const RECORD_POLL_IN_ONE_STATEMENT_SET =
  `UPDATE device_authorizations SET poll_interval = IF(${POLL_DUE_SQL}, poll_interval + LAST_INSERT_ID(0), LAST_INSERT_ID(poll_interval + ?)), ` +
  `last_polled_at = IF(${POLL_DUE_SQL}, ?, last_polled_at) `;
const RECORD_POLL_IN_ONE_STATEMENT = `${RECORD_POLL_IN_ONE_STATEMENT_SET}WHERE id = ?`;

/**
 * MySQL's common poll in one round trip (recordPendingPoll): the same write, on the row of the
 * device code, only when the token endpoint's checks before a poll all hold. The client is
 * public (so its id is its whole authentication), exists, owns the code and may use the grant
 * type: a whole word of its space-separated grant_types, compared byte for byte as the
 * endpoint compares it (CAST AS BINARY; the tables' collation ignores case). The code is
 * pending and unexpired. Parameters: the four of the poll, then the device code's hash, now,
 * the client id and the grant type between two spaces.
 */
export const RECORD_PENDING_POLL_IN_ONE_STATEMENT =
  `${RECORD_POLL_IN_ONE_STATEMENT_SET}WHERE device_code_hash = ? AND status = 'pending' AND expires_at > ? AND EXISTS (` +
  "SELECT 1 FROM clients WHERE clients.id = ? AND clients.id = device_authorizations.client_id AND clients.type = 'public' " +
  "AND LOCATE(CAST(? AS BINARY), CONCAT(' ', clients.grant_types, ' ')) > 0)";

const words = (text: unknown): string[] => String(text ?? '').split(' ').filter(Boolean);
const num = (value: unknown): number => Number(value);
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const strOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

function toClient(row: Row): ClientRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    type: row.type === 'confidential' ? 'confidential' : 'public',
    secretHash: strOrNull(row.secret_hash),
    allowedScopes: words(row.allowed_scopes),
    defaultScopes: words(row.default_scopes),
    grantTypes: words(row.grant_types),
    canIntrospect: Boolean(Number(row.can_introspect)),
    accessTokenLifetime: numOrNull(row.access_token_lifetime),
    refreshTokenLifetime: numOrNull(row.refresh_token_lifetime),
  };
}

/** The columns of a client row other than id and created_at. */
function clientColumns(client: ClientRecord): Row {
  return {
    name: client.name,
    type: client.type,
    secret_hash: client.secretHash,
    allowed_scopes: client.allowedScopes.join(' '),
    default_scopes: client.defaultScopes.join(' '),
    grant_types: client.grantTypes.join(' '),
    can_introspect: client.canIntrospect,
    access_token_lifetime: client.accessTokenLifetime,
    refresh_token_lifetime: client.refreshTokenLifetime,
  };
}

function userRow(user: UserRecord, now: number): Row {
  return {
    id: user.id,
    username: user.username,
    name: user.name,
    email: user.email,
    password_hash: user.passwordHash,
    disabled: user.disabled,
    created_at: now,
  };
}

function toUser(row: Row): UserRecord {
  return {
    id: String(row.id),
    username: String(row.username),
    name: String(row.name),
    email: strOrNull(row.email),
    passwordHash: String(row.password_hash),
    disabled: Boolean(Number(row.disabled)),
  };
}

function toDeviceAuthorization(row: Row): DeviceAuthorizationRecord {
  return {
    id: String(row.id),
    deviceCodeHash: String(row.device_code_hash),
    userCodeHash: String(row.user_code_hash),
    clientId: String(row.client_id),
    scopes: words(row.scope),
    status: row.status as DeviceAuthorizationRecord['status'],
    userId: strOrNull(row.user_id),
    createdAt: num(row.created_at),
    expiresAt: num(row.expires_at),
    pollInterval: num(row.poll_interval),
    lastPolledAt: numOrNull(row.last_polled_at),
    decidedAt: numOrNull(row.decided_at),
    requestIp: strOrNull(row.request_ip),
    userAgent: strOrNull(row.user_agent),
    revokedAt: numOrNull(row.revoked_at),
  };
}

/** The columns access and refresh tokens share. */
function toTokenFields(row: Row) {
  return {
    id: String(row.id),
    tokenHash: String(row.token_hash),
    clientId: String(row.client_id),
    userId: String(row.user_id),
    scopes: words(row.scope),
    createdAt: num(row.created_at),
    expiresAt: num(row.expires_at),
    revokedAt: numOrNull(row.revoked_at),
  };
}

function toAccessToken(row: Row): AccessTokenRecord {
  return Object.assign(toTokenFields(row), { deviceAuthorizationId: strOrNull(row.device_authorization_id) });
}

function toRefreshToken(row: Row): RefreshTokenRecord {
  return Object.assign(toTokenFields(row), { deviceAuthorizationId: String(row.device_authorization_id), rotatedAt: numOrNull(row.rotated_at) });
}

/** The columns of a new access or refresh token row. */
function tokenRow(token: NewAccessToken | NewRefreshToken): Row {
  return {
    id: token.id,
    token_hash: token.tokenHash,
    client_id: token.clientId,
    user_id: token.userId,
    scope: token.scopes.join(' '),
    device_authorization_id: token.deviceAuthorizationId,
    created_at: token.createdAt,
    expires_at: token.expiresAt,
    revoked_at: null,
  };
}

const accessTokenRow = (token: NewAccessToken): Row => tokenRow(token);
const refreshTokenRow = (token: NewRefreshToken): Row => Object.assign(tokenRow(token), { rotated_at: null });

/** A value now, or later. SQLite's prepared reads answer now (see KnexStore.readyHotPaths). */
type Eventually<T> = T | PromiseLike<T>;

/** A promise, or a Knex query builder (a thenable that runs when awaited). */
function isLater<T>(value: Eventually<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}

/** `next(value)`, now when the value is here, else when it comes. */
function andThen<T, U>(value: Eventually<T>, next: (value: T) => U): Eventually<U> {
  return isLater(value) ? Promise.resolve(value).then(next) : next(value);
}

function unavailableOr(err: unknown): unknown {
  return isUnavailable(err) ? new StoreUnavailable(err) : err;
}

/**
 * Translates driver errors at the boundary: unreachable -> StoreUnavailable. `work` may answer
 * synchronously (a prepared SQLite read): then no async frame or await stands in between.
 * Under load each await costs several µs (timed in the server: 11 µs for awaiting the
 * hot-path lookup alone), and a token check used to pass through three.
 */
function guard<T>(work: () => Eventually<T>): Promise<T> {
  try {
    const result = work();
    if (!isLater(result)) return Promise.resolve(result);
    return Promise.resolve(result).catch((err: unknown) => {
      throw unavailableOr(err);
    });
  } catch (err) {
    return Promise.reject(unavailableOr(err));
  }
}

export class KnexStore implements Store {
  private readonly dialect;

  /** MySQL: the hot statements, prepared, on a pooled connection. */
  private readonly mysql?: MysqlHotPaths;

  /**
   * MySQL only (set in the constructor): there a round trip is most of a poll's cost. On
   * SQLite the read and the write run in-process, and the poll keeps its general path.
   */
  readonly recordPendingPoll?: (clientId: string, grantType: string, deviceCodeHash: string, now: number) => Promise<PollOutcome | undefined>;

  constructor(readonly knex: Knex) {
    this.dialect = dialectOf(knex);
    if (this.dialect === 'mysql') {
      const mysql = (this.mysql = new MysqlHotPaths(knex));
      this.recordPendingPoll = (clientId, grantType, deviceCodeHash, now) =>
        guard(() => this.pollInOneStatement(mysql, RECORD_PENDING_POLL_IN_ONE_STATEMENT, [deviceCodeHash, now, clientId, ` ${grantType} `], now));
    }
  }

  // --- Hot paths (issue #8): statements prepared once (sqlite-hot-paths.ts, mysql-hot-paths.ts). ---
  private hotPaths?: SqliteHotPaths;
  private hotPathsOpening?: Promise<void>;

  /** The prepared statements when they are open and may run now, without waiting for anything. */
  private readyHotPaths(): SqliteHotPaths | undefined {
    return this.hotPaths?.usable ? this.hotPaths : undefined;
  }

  /**
   * `run` on SQLite's prepared statements, synchronously when they are open and free; else
   * once they are open, or `otherwise` (MySQL, or a Knex transaction holds SQLite's connection).
   */
  private onHotPaths<T>(run: (hot: SqliteHotPaths) => Eventually<T>, otherwise: () => Promise<T>): Eventually<T> {
    if (this.dialect !== 'sqlite') return otherwise();
    const ready = this.readyHotPaths();
    if (ready) return run(ready);
    return this.sqlite().then((hot) => (hot ? run(hot) : otherwise()));
  }

  /** The prepared statements, when they may run now; undefined on MySQL or inside a transaction. */
  private async sqlite(): Promise<SqliteHotPaths | undefined> {
    if (this.dialect !== 'sqlite') return undefined;
    if (this.hotPaths?.closed) {
      this.hotPaths = undefined;
      this.hotPathsOpening = undefined;
    }
    if (!this.hotPaths) {
      this.hotPathsOpening ??= SqliteHotPaths.open(this.knex, SLOW_DOWN_STEP_SECONDS).then(
        (hot) => void (this.hotPaths = hot),
        (err) => {
          this.hotPathsOpening = undefined;
          throw err;
        },
      );
      await this.hotPathsOpening;
    }
    return this.readyHotPaths();
  }

  /**
   * One row by a primary or unique key: a prepared statement on SQLite and on MySQL; the
   * query builder while a transaction holds SQLite's connection.
   */
  private findOne(table: UniqueLookup['table'], column: UniqueLookup['column'], value: string): Eventually<Row | undefined> {
    return this.onHotPaths(
      (hot) => hot.findOne(table, column, value),
      async () => {
        if (this.mysql) return parseJsonRow((await this.mysql.select<Row>(MYSQL_LOOKUPS.get(`${table}.${column}`)!, [value]))[0]?.[table]);
        return this.knex(table).where(column, value).first() as Promise<Row | undefined>;
      },
    );
  }

  /**
   * One row of a join (JOINED_LOOKUPS) split by table: one statement on MySQL and on SQLite;
   * `separately` reads the same rows while a transaction holds SQLite's connection.
   */
  private findJoined(name: JoinedLookup, params: string[], separately: () => Promise<RowsByTable | undefined>): Eventually<RowsByTable | undefined> {
    return this.onHotPaths(
      (hot) => {
        const order = SQLITE_JOINED_PARAMS[name];
        return splitByTable(hot.selectFirst(SQLITE_JOINED_LOOKUPS[name], order ? order.map((i) => params[i]!) : params), parseSqliteJsonRow);
      },
      async () => {
        if (!this.mysql) return separately();
        return splitByTable((await this.mysql.select<Row>(JOINED_LOOKUPS[name], params))[0], (_table, value) => parseJsonRow(value));
      },
    );
  }
  // --- end of hot paths ---

  findClient(clientId: string): Promise<ClientRecord | undefined> {
    return guard(() => andThen(this.findOne('clients', 'id', clientId), (row) => row && toClient(row)));
  }

  findClientAndDeviceAuthorization(clientId: string, deviceCodeHash: string): Promise<ClientWithDeviceAuthorization> {
    const separately = async () => {
      const clients = await this.findOne('clients', 'id', clientId);
      const device_authorizations = clients && (await this.findOne('device_authorizations', 'device_code_hash', deviceCodeHash));
      return clients ? { clients, device_authorizations } : undefined;
    };
    return guard(() =>
      andThen(this.findJoined('clientAndDeviceAuthorization', [deviceCodeHash, clientId], separately), (tables) => {
        const client = tables?.clients;
        const authorization = tables?.device_authorizations;
        return { client: client && toClient(client), authorization: authorization && toDeviceAuthorization(authorization) };
      }),
    );
  }

  saveClient(client: ClientRecord, now: number): Promise<void> {
    return guard(async () => {
      const columns = clientColumns(client);
      await this.knex('clients')
        .insert({ id: client.id, ...columns, created_at: now })
        .onConflict('id')
        .merge(Object.keys(columns));
    });
  }

  saveUser(user: UserRecord, now: number): Promise<void> {
    return guard(async () => {
      await this.knex('users')
        .insert(userRow(user, now))
        .onConflict('id')
        .merge(['username', 'name', 'email', 'password_hash', 'disabled']);
    });
  }

  findUserById(userId: string): Promise<UserRecord | undefined> {
    return guard(() => andThen(this.findOne('users', 'id', userId), (row) => row && toUser(row)));
  }

  findUserByUsername(username: string): Promise<UserRecord | undefined> {
    return guard(async () => {
      const row = await this.knex('users').where({ username }).first();
      // Exactly this name: MySQL's PAD SPACE collations would also match "alice " to "alice".
      return row && row.username === username ? toUser(row) : undefined;
    });
  }

  createDeviceAuthorization(a: NewDeviceAuthorization): Promise<void> {
    const withKnex = () => this.insertDeviceAuthorization(a);
    return guard(async () => {
      try {
        await this.onHotPaths((hot) => hot.createDeviceAuthorization(a, withKnex), withKnex);
      } catch (err) {
        if (isUniqueViolation(err)) throw new DuplicateUserCode();
        throw err;
      }
    });
  }

  private async insertDeviceAuthorization(a: NewDeviceAuthorization): Promise<void> {
    await this.knex('device_authorizations').insert({
      id: a.id,
      device_code_hash: a.deviceCodeHash,
      user_code_hash: a.userCodeHash,
      client_id: a.clientId,
      scope: a.scopes.join(' '),
      status: 'pending',
      user_id: null,
      created_at: a.createdAt,
      expires_at: a.expiresAt,
      poll_interval: a.pollInterval,
      last_polled_at: null,
      decided_at: null,
      request_ip: a.requestIp,
      user_agent: a.userAgent,
    });
  }

  findDeviceAuthorizationByDeviceCode(deviceCodeHash: string): Promise<DeviceAuthorizationRecord | undefined> {
    return guard(() => andThen(this.findOne('device_authorizations', 'device_code_hash', deviceCodeHash), (row) => row && toDeviceAuthorization(row)));
  }

  findDeviceAuthorizationByUserCode(userCodeHashes: string[]): Promise<DeviceAuthorizationRecord | undefined> {
    return guard(async () => {
      const row = await this.knex('device_authorizations').whereIn('user_code_hash', userCodeHashes).first();
      return row ? toDeviceAuthorization(row) : undefined;
    });
  }

  recordPoll(authorizationId: string, now: number): Promise<PollOutcome> {
    const withKnex = () => this.recordPollWithKnex(authorizationId, now);
    return guard(() =>
      this.onHotPaths(
        (hot) => hot.recordPoll(authorizationId, now, withKnex),
        async () => {
          const outcome = this.mysql && (await this.pollInOneStatement(this.mysql, RECORD_POLL_IN_ONE_STATEMENT, [authorizationId], now));
          return outcome ?? withKnex();
        },
      ),
    );
  }

  /** The poll as two conditional writes through the query builder (any dialect). */
  private async recordPollWithKnex(authorizationId: string, now: number): Promise<PollOutcome> {
    const accepted = await this.knex('device_authorizations')
      .where({ id: authorizationId })
      .andWhereRaw(POLL_DUE_SQL, [now])
      .update({ last_polled_at: now });
    if (accepted === 1) return { accepted: true };
    await this.knex('device_authorizations')
      .where({ id: authorizationId })
      .update({ poll_interval: this.knex.raw('poll_interval + ?', [SLOW_DOWN_STEP_SECONDS]) });
    const row = await this.knex('device_authorizations').where({ id: authorizationId }).first('poll_interval');
    return { accepted: false, interval: num(row?.poll_interval) };
  }

  /**
   * MySQL/MariaDB: the poll in one round trip, without RETURNING (MariaDB 10.11 has none).
   * One UPDATE either records the poll or adds 5 s; LAST_INSERT_ID(expr) hands back 0 for an
   * accepted poll or the new interval, in the reply to the UPDATE itself. MySQL assigns left
   * to right on updated values: poll_interval first, so the test for last_polled_at sees
   * the interval unchanged when the poll is accepted, and a longer one (still too soon)
   * after slow_down. Undefined when no row matched (gone, or the WHERE of `sql` refused it).
   * `sql`: one of the statements built on RECORD_POLL_IN_ONE_STATEMENT_SET; `where`: the
   * parameters of its WHERE.
   */
  private async pollInOneStatement(mysql: MysqlHotPaths, sql: string, where: unknown[], now: number): Promise<PollOutcome | undefined> {
    const { affectedRows, insertId } = await mysql.write(sql, [now, SLOW_DOWN_STEP_SECONDS, now, now, ...where]);
    if (affectedRows !== 1) return undefined;
    return Number(insertId) === 0 ? { accepted: true } : { accepted: false, interval: Number(insertId) };
  }

  decide(authorizationId: string, decision: 'approved' | 'denied', userId: string, now: number): Promise<boolean> {
    return guard(async () => {
      const changed = await this.knex('device_authorizations')
        .where({ id: authorizationId, status: 'pending' })
        .andWhere('expires_at', '>', now)
        .update({ status: decision, user_id: userId, decided_at: now });
      return changed === 1;
    });
  }

  exchange(authorizationId: string, token: NewAccessToken, refreshToken?: NewRefreshToken): Promise<boolean> {
    const withKnex = () => this.exchangeWithKnex(authorizationId, token, refreshToken);
    return guard(() => this.onHotPaths((hot) => hot.exchange(authorizationId, token, refreshToken, withKnex), withKnex));
  }

  private exchangeWithKnex(authorizationId: string, token: NewAccessToken, refreshToken?: NewRefreshToken): Promise<boolean> {
    return this.knex.transaction(async (trx) => {
      const consumed = await trx('device_authorizations').where({ id: authorizationId, status: 'approved' }).update({ status: 'consumed' });
      if (consumed !== 1) return false;
      await trx('access_tokens').insert(accessTokenRow(token));
      if (refreshToken) await trx('refresh_tokens').insert(refreshTokenRow(refreshToken));
      return true;
    });
  }

  /** One batch on SQLite's hot path; elsewhere (MySQL, or inside a transaction) the two in turn. */
  recordPollAndExchange(authorizationId: string, now: number, token: NewAccessToken, refreshToken?: NewRefreshToken): Promise<PollAndExchange> {
    const inTurn = async (poll: () => Promise<PollOutcome>, exchange: () => Promise<boolean>): Promise<PollAndExchange> => {
      const outcome = await poll();
      return { poll: outcome, exchanged: outcome.accepted && (await exchange()) };
    };
    const withKnex = () => inTurn(() => this.recordPollWithKnex(authorizationId, now), () => this.exchangeWithKnex(authorizationId, token, refreshToken));
    return guard(() =>
      this.onHotPaths(
        (hot) => hot.recordPollAndExchange(authorizationId, now, token, refreshToken, withKnex),
        () => inTurn(() => this.recordPoll(authorizationId, now), () => this.exchange(authorizationId, token, refreshToken)),
      ),
    );
  }

  revokeGrant(authorizationId: string, now: number): Promise<void> {
    return guard(() =>
      this.knex.transaction(async (trx) => {
        await trx('device_authorizations').where({ id: authorizationId }).whereNull('revoked_at').update({ revoked_at: now });
        await trx('access_tokens').where({ device_authorization_id: authorizationId }).whereNull('revoked_at').update({ revoked_at: now });
        await trx('refresh_tokens').where({ device_authorization_id: authorizationId }).whereNull('revoked_at').update({ revoked_at: now });
      }),
    );
  }

  findAccessToken(tokenHash: string): Promise<AccessTokenRecord | undefined> {
    return guard(() => andThen(this.findOne('access_tokens', 'token_hash', tokenHash), (row) => row && toAccessToken(row)));
  }

  findAccessTokenWithOwners(tokenHash: string): Promise<AccessTokenWithOwners | undefined> {
    const separately = async () => {
      const access_tokens = await this.findOne('access_tokens', 'token_hash', tokenHash);
      if (!access_tokens) return undefined;
      const users = await this.findOne('users', 'id', String(access_tokens.user_id));
      const clients = await this.findOne('clients', 'id', String(access_tokens.client_id));
      return { access_tokens, users, clients };
    };
    return guard(() =>
      andThen(this.findJoined('accessTokenWithOwners', [tokenHash], separately), (tables) => {
        const token = tables?.access_tokens;
        if (!token) return undefined;
        return { token: toAccessToken(token), user: tables.users && toUser(tables.users), client: tables.clients && toClient(tables.clients) };
      }),
    );
  }

  findClientAndAccessToken(clientId: string, tokenHash: string): Promise<ClientWithAccessToken> {
    const separately = async () => {
      const clients = await this.findOne('clients', 'id', clientId);
      const access_tokens = clients && (await this.findOne('access_tokens', 'token_hash', tokenHash));
      const users = access_tokens && (await this.findOne('users', 'id', String(access_tokens.user_id)));
      return clients ? { clients, access_tokens, users } : undefined;
    };
    return guard(() =>
      andThen(this.findJoined('clientAndAccessTokenWithUser', [tokenHash, clientId], separately), (tables) => {
        const token = tables?.access_tokens;
        return {
          client: tables?.clients && toClient(tables.clients),
          accessToken: token && { token: toAccessToken(token), user: tables.users && toUser(tables.users) },
        };
      }),
    );
  }

  revokeAccessToken(tokenId: string, now: number): Promise<void> {
    return guard(async () => {
      await this.knex('access_tokens').where({ id: tokenId }).whereNull('revoked_at').update({ revoked_at: now });
    });
  }

  findRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    return guard(() => andThen(this.findOne('refresh_tokens', 'token_hash', tokenHash), (row) => row && toRefreshToken(row)));
  }

  rotateRefreshToken(oldId: string, now: number, access: NewAccessToken, refresh: NewRefreshToken): Promise<boolean> {
    const withKnex = () =>
      this.knex.transaction(async (trx) => {
        const rotated = await trx('refresh_tokens').where({ id: oldId }).whereNull('rotated_at').whereNull('revoked_at').update({ rotated_at: now });
        if (rotated !== 1) return false;
        await trx('access_tokens').insert(accessTokenRow(access));
        await trx('refresh_tokens').insert(refreshTokenRow(refresh));
        return true;
      });
    return guard(() => this.onHotPaths((hot) => hot.rotateRefreshToken(oldId, now, access, refresh, withKnex), withKnex));
  }

  listApprovedDevices(userId: string, now: number): Promise<ApprovedDeviceRecord[]> {
    return guard(async () => {
      const k = this.knex;
      const rows = await k('device_authorizations as da')
        .join('clients as c', 'c.id', 'da.client_id')
        .where({ 'da.user_id': userId, 'da.status': 'consumed' })
        .whereNull('da.revoked_at')
        .where((live) =>
          live
            .whereExists(k('access_tokens as a').whereRaw('a.device_authorization_id = da.id').whereNull('a.revoked_at').where('a.expires_at', '>', now))
            .orWhereExists(
              k('refresh_tokens as r').whereRaw('r.device_authorization_id = da.id').whereNull('r.revoked_at').whereNull('r.rotated_at').where('r.expires_at', '>', now),
            ),
        )
        .select('da.id', 'da.client_id', 'c.name', 'da.scope', 'da.decided_at', 'da.created_at')
        // The newest token of either kind: access tokens may be purged while a refresh token lives.
        .select(k('access_tokens as t').max('t.created_at').whereRaw('t.device_authorization_id = da.id').as('last_access_at'))
        .select(k('refresh_tokens as rt').max('rt.created_at').whereRaw('rt.device_authorization_id = da.id').as('last_refresh_at'))
        .orderBy('da.decided_at', 'desc');
      return rows.map((row: Row) => ({
        grantId: String(row.id),
        clientId: String(row.client_id),
        clientName: String(row.name),
        scopes: words(row.scope),
        approvedAt: num(row.decided_at ?? row.created_at),
        lastUsedAt: Math.max(num(row.last_access_at ?? 0), num(row.last_refresh_at ?? 0), num(row.decided_at ?? 0)),
      }));
    });
  }

  purgeExpired(before: number, batchSize: number): Promise<PurgeCounts> {
    return guard(async () => {
      const k = this.knex;
      // Select a batch of keys, then delete by key: short statements, no long locks on MySQL
      // (which cannot take LIMIT in a DELETE ... IN subquery).
      const purge = async (table: string, key: string, filter: (q: Knex.QueryBuilder) => Knex.QueryBuilder) => {
        const keys = (await filter(k(table)).select(key).limit(batchSize)).map((r: Row) => r[key]);
        return keys.length === 0 ? 0 : k(table).whereIn(key, keys).delete();
      };
      const accessTokens = await purge('access_tokens', 'id', (q) => q.where('expires_at', '<', before));
      const refreshTokens = await purge('refresh_tokens', 'id', (q) => q.where('expires_at', '<', before));
      // An approval goes once it has expired and no token of it is left (its tokens name it).
      const deviceAuthorizations = await purge('device_authorizations', 'id', (q) =>
        q
          .where('expires_at', '<', before)
          .whereNotExists(k('access_tokens as a').whereRaw('a.device_authorization_id = device_authorizations.id'))
          .whereNotExists(k('refresh_tokens as r').whereRaw('r.device_authorization_id = device_authorizations.id')),
      );
      const sessions = await purge('sessions', 'id_hash', (q) => q.where('expires_at', '<', before));
      const attemptCounters = await purge('attempt_counters', 'counter_key', (q) =>
        q.where('locked_until', '<', before).andWhere('window_started_at', '<', before - MAX_ATTEMPT_WINDOW_MS),
      );
      return { deviceAuthorizations, accessTokens, refreshTokens, sessions, attemptCounters };
    });
  }

  attemptsLockedUntil(keys: string[], now: number): Promise<number> {
    return guard(async () => {
      const row = await this.knex('attempt_counters').whereIn('counter_key', keys).andWhere('locked_until', '>', now).max({ until: 'locked_until' }).first();
      return num(row?.until ?? 0);
    });
  }

  recordFailedAttempt(key: string, now: number, policy: AttemptPolicy): Promise<number> {
    return guard(async () => {
      const windowMs = policy.lockoutSeconds * 1000;
      // A window that has passed starts again (one conditional write; racing resets agree).
      await this.knex('attempt_counters')
        .where({ counter_key: key })
        .andWhere('window_started_at', '<=', now - windowMs)
        .update({ failures: 0, window_started_at: now, locked_until: 0 });
      // Atomic increment: concurrent failures in any process are all counted.
      await this.knex('attempt_counters')
        .insert({ counter_key: key, failures: 1, window_started_at: now, locked_until: 0 })
        .onConflict('counter_key')
        .merge({ failures: this.knex.raw('failures + 1') });
      const row = await this.knex('attempt_counters').where({ counter_key: key }).first('failures');
      const failures = num(row?.failures);
      const delay = attemptDelaySeconds(failures, policy);
      if (delay === 0) return failures;
      const lockedUntil = now + delay * 1000;
      // Never shorten a lock another process has already set.
      await this.knex('attempt_counters').where({ counter_key: key }).andWhere('locked_until', '<', lockedUntil).update({ locked_until: lockedUntil });
      return failures;
    });
  }

  clearAttempts(key: string): Promise<void> {
    return guard(async () => {
      await this.knex('attempt_counters').where({ counter_key: key }).delete();
    });
  }

  createSession(session: SessionRecord): Promise<void> {
    return guard(async () => {
      await this.knex('sessions').insert({
        id_hash: session.idHash,
        user_id: session.userId,
        created_at: session.createdAt,
        expires_at: session.expiresAt,
      });
    });
  }

  findSession(idHash: string): Promise<SessionRecord | undefined> {
    return guard(async () => {
      const row = await this.knex('sessions').where({ id_hash: idHash }).first();
      return row
        ? { idHash: String(row.id_hash), userId: String(row.user_id), createdAt: num(row.created_at), expiresAt: num(row.expires_at) }
        : undefined;
    });
  }

  deleteSession(idHash: string): Promise<void> {
    return guard(async () => {
      await this.knex('sessions').where({ id_hash: idHash }).delete();
    });
  }

  close(): Promise<void> {
    return this.knex.destroy();
  }

  // --- Administration ---------------------------------------------------------------------------

  listClients(): Promise<ClientRecord[]> {
    return guard(async () => (await this.knex('clients').orderBy('id')).map(toClient));
  }

  createClient(client: ClientRecord, now: number): Promise<boolean> {
    return this.insertUnlessTaken('clients', { id: client.id, ...clientColumns(client), created_at: now });
  }

  updateClient(client: ClientRecord): Promise<boolean> {
    const { type: _type, secret_hash: _secret, ...changeable } = clientColumns(client);
    return guard(async () => (await this.knex('clients').where({ id: client.id }).update(changeable)) === 1);
  }

  setClientSecretHash(clientId: string, secretHash: string): Promise<boolean> {
    return guard(async () => (await this.knex('clients').where({ id: clientId }).update({ secret_hash: secretHash })) === 1);
  }

  deleteClient(clientId: string): Promise<boolean> {
    // Explicit deletes rather than trusting ON DELETE CASCADE alone: the same on every database
    // and every foreign-key setting, and all or nothing.
    return guard(() =>
      this.knex.transaction(async (trx) => {
        await trx('refresh_tokens').where({ client_id: clientId }).delete();
        await trx('access_tokens').where({ client_id: clientId }).delete();
        await trx('device_authorizations').where({ client_id: clientId }).delete();
        return (await trx('clients').where({ id: clientId }).delete()) === 1;
      }),
    );
  }

  listUsers(): Promise<UserRecord[]> {
    return guard(async () => (await this.knex('users').orderBy('username')).map(toUser));
  }

  createUser(user: UserRecord, now: number): Promise<boolean> {
    return this.insertUnlessTaken('users', userRow(user, now));
  }

  /** Inserts a row; false when a unique key (the id, a username) is already taken. */
  private insertUnlessTaken(table: 'clients' | 'users', row: Row): Promise<boolean> {
    return guard(async () => {
      try {
        await this.knex(table).insert(row);
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    });
  }

  updateUser(userId: string, changes: { disabled?: boolean; passwordHash?: string }): Promise<boolean> {
    return guard(() =>
      this.knex.transaction(async (trx) => {
        const columns: Row = {};
        if (changes.disabled !== undefined) columns.disabled = changes.disabled;
        if (changes.passwordHash !== undefined) columns.password_hash = changes.passwordHash;
        const exists = await trx('users').where({ id: userId }).first('id');
        if (!exists) return false;
        if (Object.keys(columns).length > 0) await trx('users').where({ id: userId }).update(columns);
        if (changes.disabled === true || changes.passwordHash !== undefined) await trx('sessions').where({ user_id: userId }).delete();
        return true;
      }),
    );
  }
  // --- Operations: expiry counting, readiness and pool usage ---

  noteExpired(authorizationId: string, now: number): Promise<boolean> {
    return guard(async () => {
      const noted = await this.knex('device_authorizations')
        .where({ id: authorizationId })
        .whereIn('status', ['pending', 'approved'])
        .andWhere('expires_at', '<=', now)
        .whereNull('expired_noted_at')
        .update({ expired_noted_at: now });
      return noted === 1;
    });
  }

  async checkReady(): Promise<{ ready: true } | { ready: false; reason: string }> {
    try {
      await this.knex.raw('SELECT 1');
    } catch {
      return { ready: false, reason: 'the database does not answer' };
    }
    const [, pending] = (await this.knex.migrate.list(MIGRATIONS_CONFIG)) as [unknown[], unknown[]];
    if (pending.length > 0) return { ready: false, reason: `${pending.length} database migration(s) pending` };
    return { ready: true };
  }

  poolStats(): PoolStats {
    const pool = (this.knex.client as { pool?: TarnPool }).pool;
    if (!pool) return { used: 0, free: 0, pending: 0, size: 0 };
    return { used: pool.numUsed(), free: pool.numFree(), pending: pool.numPendingAcquires(), size: pool.max };
  }
}

/** The parts of knex's tarn pool the metrics read. */
interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}
