/**
 * Every setting of the server, its default and its environment variable, in one place.
 * The comment above each entry is its documentation; the README's configuration table is
 * checked against this list by a test.
 */

export const USER_CODE_ALPHABET_RFC8628 = 'BCDFGHJKLMNPQRSTVWXZ';

export interface SettingSpec {
  /** Environment variable that sets it. */
  env: string;
  /** The default as text, for the documentation (the typed default lives in `defaults`). */
  shown: string;
  doc: string;
}

export const defaults = {
  /** TCP port of the standalone server. */
  port: 3000,
  /** Address the standalone server binds to. */
  host: '127.0.0.1',
  /**
   * The public base URL of the server: the `issuer` of RFC 8414 and the base of every
   * endpoint URL it publishes. Default: `http://localhost:<port>`.
   */
  issuer: undefined as string | undefined,
  /**
   * Where data lives. `mysql://user:password@host:3306/database` for MySQL or MariaDB;
   * `sqlite:path/to/file.sqlite` for a SQLite file. Default: the embedded SQLite file
   * `data/oauth2-devices.sqlite`, which is also the only database that gets demo data.
   */
  databaseUrl: undefined as string | undefined,
  /** Seconds a device code and its user code live (RFC 8628 §3.2 `expires_in`). */
  deviceCodeLifetime: 900,
  /** Seconds a device must wait between polls (RFC 8628 §3.2 `interval`). */
  pollInterval: 5,
  /**
   * Issue device codes that carry the time they were issued, so that their stored keys sort
   * in time and a new flow writes about 42 % fewer pages (`deviceCodeKey` in
   * `src/helpers/secrets.ts`). Every release since this one finds both kinds of code. Set it
   * to false while a rolling upgrade from an older release runs, whose processes would not
   * find a timed code issued by a new one; turn it back on once every process is upgraded.
   */
  timedDeviceCodes: true,
  /**
   * Issue opaque access and refresh tokens that carry the time they were issued (`o2d_at_`,
   * 12 hex characters of time, 256 random bits), stored by a key led by that time
   * (`tokenKey` in `src/helpers/secrets.ts`): a new token lands at the end of the lookup
   * index, and the tokens in use, the recent ones, are found on the pages there. Every
   * release since this one finds both kinds. Set it to false while a rolling upgrade from an
   * older release runs, whose processes would not find a timed token issued by a new one.
   */
  timedTokens: true,
  /** Seconds an access token lives. */
  accessTokenLifetime: 3600,
  /**
   * `opaque` (random strings with the prefix `o2d_at_`) or `jwt` (RFC 9068 JWTs, verifiable
   * offline with the keys at /.well-known/jwks.json). Either kind is stored by its hash, so
   * revocation works for both.
   */
  accessTokenFormat: 'opaque' as 'opaque' | 'jwt',
  /**
   * PEM files of the JWT signing keys (RSA 2048+ or EC P-256), comma-separated, newest first:
   * the first signs, all are published. The embedded default generates one in `data/`.
   */
  jwtKeyFiles: [] as string[],
  /** The `aud` of JWT access tokens. Default: the issuer. */
  jwtAudience: undefined as string | undefined,
  /** Seconds a refresh token lives; every refresh issues a new one with a full lifetime. */
  refreshTokenLifetime: 30 * 86400,
  /** Seconds between runs of the purge of expired rows inside the server; 0 turns it off. */
  purgeInterval: 3600,
  /** Seconds a signed-in session on the activation pages lives. */
  sessionLifetime: 8 * 3600,
  /** Optional page about errors, returned as `error_uri` (the seed's OAUTH2_PROVIDER_ERROR_URI). */
  errorUri: undefined as string | undefined,
  /** Largest request body accepted, in bytes; larger bodies get 413. */
  bodyLimit: 16 * 1024,
  /** Seconds a client has to send a whole request, headers and body; slower ones get 408. */
  requestTimeout: 10,
  /** Largest request head (request line and headers) in bytes; larger ones get 431. */
  maxHeaderBytes: 16 * 1024,
  /**
   * Keys that sign cookies and key the user-code hashes, comma-separated, newest first; older
   * keys still verify, so a key can be rotated by putting a new one in front. At least 32
   * characters each. Required with DATABASE_URL; the embedded default keeps a generated key
   * in `data/secret-keys`.
   */
  secretKeys: [] as string[],
  /**
   * The scopes this server knows, with the text shown to a person who approves them:
   * `name=description` pairs separated by `;`.
   */
  scopes: {
    profile: 'See your name and username',
    email: 'See your email address',
    devices: 'See and revoke the devices connected to your account',
  } as Record<string, string>,
  /** User-code length and alphabet (RFC 8628 §6.1: 8 characters of base-20, no vowels). */
  userCodeLength: 8,
  userCodeAlphabet: USER_CODE_ALPHABET_RFC8628,
  /**
   * Wrong user codes one IP address, or one signed-in account, may enter before it is locked
   * out. The first two cost nothing; after that each waits longer: 1, 2, 4 ... seconds.
   */
  userCodeMaxFailures: 5,
  /** Seconds a key stays locked out after too many wrong user codes (also the counting window). */
  userCodeLockout: 3600,
  /** Seconds of the first back-off between failed attempts; it doubles with each failure. */
  attemptBackoff: 1,
  /** Failed sign-ins per IP address, and per username, before a lockout. */
  signInMaxFailures: 10,
  /** Seconds of a sign-in lockout (also the counting window). */
  signInLockout: 900,
  /**
   * The highest chance, as a power of two, that one attacker (one IP address or one account)
   * may have of guessing one live user code within its lifetime; 32 means 2^-32 (RFC 8628
   * §5.1). A code length, alphabet, lifetime and limits that allow more refuse to start.
   */
  guessCeilingBits: 32,
  /** Trust `X-Forwarded-*` headers from a reverse proxy (for the client IP and https). */
  trustProxy: false,

  // --- Administration ---------------------------------------------------------------------------
  /**
   * Bearer tokens of the admin API (`/admin/...`), comma-separated, newest first so that a new
   * one can be put in front and the old one dropped later; 32+ characters each. There is no
   * default: with DATABASE_URL and no tokens the admin API is off (every admin request is 401
   * and says so); the embedded default keeps a generated token in `data/admin-token`.
   */
  adminTokens: [] as string[],
  // --- Operations: logs and metrics ---
  /** Level of the JSON log lines on stdout: fatal, error, warn, info (one line per request), debug, trace or silent. */
  logLevel: 'info' as 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent',
  /**
   * Take the request id from an incoming `X-Request-Id` (1-128 characters of letters, digits
   * and `._:-`; anything else is replaced). Turn on only behind a proxy that sets or strips it.
   */
  trustRequestId: false,
  /**
   * When set, `GET /metrics` answers only `Authorization: Bearer <token>` (16+ characters).
   * Unset, /metrics is open: keep it off the public network.
   */
  metricsToken: undefined as string | undefined,
  // --- performance ---
  /**
   * MySQL/MariaDB connections per server process. A request holds one for a query or a
   * transaction only. Measured on two cores (bench, MariaDB on the same machine): with 10 the
   * server's event loop sat idle a quarter of the time while requests queued for a
   * connection; 20 served 10-15 % more polls for 7 MB more memory, 30 and 50 no more than 20.
   * Mind the database's max_connections across all processes (MariaDB's default is 151).
   * SQLite always uses one connection.
   */
  databasePoolSize: 20,
  /**
   * MB of SQLite's page cache (its main connection). better-sqlite3 builds SQLite with 16 MB,
   * which under load held 13-15 MB more of the process's memory than 4 and served the bench's
   * small tables no faster: the file's pages are in the operating system's cache as well, and
   * a page SQLite misses costs one read from there. That memory pays for a young generation
   * twice as large (`npm start`), which took a token poll from 112 to 76 µs of CPU. On a large
   * database (1,000,000 live flows) 16 MB gave new flows a steadier p99 (14.0-16.0 ms against
   * 16.6-23.5 at 4) for a peak RSS about 15 MB higher (bench/README.md): raise it there if the
   * memory is there. MySQL ignores it.
   */
  sqliteCacheMb: 4,
};

export type Defaults = typeof defaults;

/** The environment variables, for the README table and for `loadConfig`. */
export const settings: Record<keyof Defaults, SettingSpec> = {
  port: { env: 'PORT', shown: '3000', doc: 'TCP port of the standalone server.' },
  host: { env: 'HOST', shown: '127.0.0.1', doc: 'Address the standalone server binds to.' },
  issuer: { env: 'OAUTH2_ISSUER', shown: 'http://localhost:$PORT', doc: 'Public base URL; the RFC 8414 issuer.' },
  databaseUrl: { env: 'DATABASE_URL', shown: 'embedded SQLite in data/', doc: 'mysql://user:pass@host:3306/db or sqlite:path/file.sqlite.' },
  deviceCodeLifetime: { env: 'OAUTH2_DEVICE_CODE_TTL', shown: '900', doc: 'Seconds a device code and user code live.' },
  pollInterval: { env: 'OAUTH2_POLL_INTERVAL', shown: '5', doc: 'Seconds between polls a device must wait.' },
  timedDeviceCodes: { env: 'OAUTH2_TIMED_DEVICE_CODES', shown: 'true', doc: 'Issue device codes that carry their time (fewer index writes); false during a rolling upgrade from a release before them.' },
  timedTokens: { env: 'OAUTH2_TIMED_TOKENS', shown: 'true', doc: 'Issue opaque tokens that carry their time (their lookups stay on recent index pages); false during a rolling upgrade from a release before them.' },
  accessTokenLifetime: { env: 'OAUTH2_ACCESS_TOKEN_TTL', shown: '3600', doc: 'Seconds an access token lives.' },
  accessTokenFormat: { env: 'OAUTH2_ACCESS_TOKEN_FORMAT', shown: 'opaque', doc: 'opaque or jwt (RFC 9068, keys at /.well-known/jwks.json).' },
  jwtKeyFiles: { env: 'OAUTH2_JWT_KEY_FILES', shown: 'generated for the embedded default', doc: 'PEM files of the JWT signing keys, comma-separated, newest first.' },
  jwtAudience: { env: 'OAUTH2_JWT_AUDIENCE', shown: 'the issuer', doc: 'The aud claim of JWT access tokens.' },
  refreshTokenLifetime: { env: 'OAUTH2_REFRESH_TOKEN_TTL', shown: '2592000', doc: 'Seconds a refresh token lives (each refresh issues a new one).' },
  purgeInterval: { env: 'OAUTH2_PURGE_INTERVAL', shown: '3600', doc: 'Seconds between purges of expired rows in the server; 0 turns it off.' },
  sessionLifetime: { env: 'OAUTH2_SESSION_TTL', shown: '28800', doc: 'Seconds a sign-in session lives.' },
  errorUri: { env: 'OAUTH2_ERROR_URI', shown: '(none)', doc: 'A page about errors, sent as error_uri.' },
  bodyLimit: { env: 'OAUTH2_BODY_LIMIT', shown: '16384', doc: 'Largest request body in bytes (413 above).' },
  requestTimeout: { env: 'OAUTH2_REQUEST_TIMEOUT', shown: '10', doc: 'Seconds to receive a whole request (408 after).' },
  maxHeaderBytes: { env: 'OAUTH2_MAX_HEADER_BYTES', shown: '16384', doc: 'Largest request head in bytes (431 above).' },
  secretKeys: { env: 'OAUTH2_SECRET_KEYS', shown: 'generated for the embedded default', doc: 'Comma-separated signing keys, newest first, 32+ characters each. Required with DATABASE_URL.' },
  scopes: { env: 'OAUTH2_SCOPES', shown: 'profile, email, devices', doc: 'Known scopes: name=description pairs separated by ;.' },
  userCodeLength: { env: 'OAUTH2_USER_CODE_LENGTH', shown: '8', doc: 'Characters in a user code.' },
  userCodeAlphabet: { env: 'OAUTH2_USER_CODE_ALPHABET', shown: USER_CODE_ALPHABET_RFC8628, doc: 'Characters a user code is drawn from.' },
  userCodeMaxFailures: { env: 'OAUTH2_USER_CODE_MAX_FAILURES', shown: '5', doc: 'Wrong user codes per IP address or account before a lockout.' },
  userCodeLockout: { env: 'OAUTH2_USER_CODE_LOCKOUT', shown: '3600', doc: 'Seconds of a user-code lockout (and the counting window).' },
  attemptBackoff: { env: 'OAUTH2_ATTEMPT_BACKOFF', shown: '1', doc: 'Seconds of the first wait after a failed attempt; doubles with each failure.' },
  signInMaxFailures: { env: 'OAUTH2_SIGNIN_MAX_FAILURES', shown: '10', doc: 'Failed sign-ins per IP address or username before a lockout.' },
  signInLockout: { env: 'OAUTH2_SIGNIN_LOCKOUT', shown: '900', doc: 'Seconds of a sign-in lockout (and the counting window).' },
  guessCeilingBits: { env: 'OAUTH2_GUESS_CEILING_BITS', shown: '32', doc: 'Refuse settings that give one attacker more than a 2^-N chance of guessing a live user code.' },
  trustProxy: { env: 'OAUTH2_TRUST_PROXY', shown: 'false', doc: 'Trust X-Forwarded-* headers from a reverse proxy.' },
  adminTokens: { env: 'OAUTH2_ADMIN_TOKENS', shown: 'generated for the embedded default', doc: 'Bearer tokens of the admin API, comma-separated, newest first, 32+ characters each. Without them (and with DATABASE_URL) the admin API is off.' },
  // Operations
  logLevel: { env: 'OAUTH2_LOG_LEVEL', shown: 'info', doc: 'Level of the JSON log lines: fatal, error, warn, info, debug, trace or silent.' },
  trustRequestId: { env: 'OAUTH2_TRUST_REQUEST_ID', shown: 'false', doc: 'Take the request id from a well-formed incoming X-Request-Id.' },
  metricsToken: { env: 'OAUTH2_METRICS_TOKEN', shown: '(none: /metrics is open)', doc: 'Bearer token that GET /metrics requires.' },
  // --- performance ---
  databasePoolSize: { env: 'DATABASE_POOL_SIZE', shown: '20', doc: 'MySQL connections per server process (SQLite uses one).' },
  sqliteCacheMb: { env: 'SQLITE_CACHE_MB', shown: '4', doc: 'MB of SQLite page cache per server process.' },
};
