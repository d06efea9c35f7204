/**
 * The storage contract, method by method (the seed's client getter and code getter/setter,
 * grown up). `KnexStore` implements it on SQLite and MySQL; an integrator may implement it on
 * anything else. Rules every implementation keeps:
 *
 * - Secrets are never stored: device codes, access tokens, client secrets and session ids are
 *   kept as SHA-256 hashes, user codes as keyed hashes, passwords as scrypt hashes.
 * - Times are milliseconds since the epoch, from the server's clock (passed in as `now`), so
 *   every process and every database agrees on them.
 * - Every state change that must happen once (accepting a poll, deciding, exchanging) is one
 *   conditional write that reports whether it won, never a read followed by a write, so any
 *   number of server processes can share one database.
 * - Driver errors are translated at this boundary: a taken user code is `DuplicateUserCode`,
 *   a database that cannot be reached is `StoreUnavailable`.
 */

export type ClientType = 'public' | 'confidential';

export interface ClientRecord {
  id: string;
  name: string;
  type: ClientType;
  /** SHA-256 (hex) of the secret of a confidential client; null for public clients. */
  secretHash: string | null;
  allowedScopes: string[];
  defaultScopes: string[];
  grantTypes: string[];
  /** A resource server allowed to call the introspection endpoint (RFC 7662 §2.1). */
  canIntrospect: boolean;
  /** Seconds this client's access tokens live; null: the server's accessTokenLifetime. */
  accessTokenLifetime: number | null;
  /** Seconds this client's refresh tokens live; null: the server's refreshTokenLifetime. */
  refreshTokenLifetime: number | null;
}

export interface UserRecord {
  id: string;
  username: string;
  name: string;
  email: string | null;
  passwordHash: string;
  disabled: boolean;
}

export type DeviceAuthorizationStatus = 'pending' | 'approved' | 'denied' | 'consumed';

export interface DeviceAuthorizationRecord {
  id: string;
  deviceCodeHash: string;
  userCodeHash: string;
  clientId: string;
  scopes: string[];
  status: DeviceAuthorizationStatus;
  /** The person who approved or denied; null while pending. */
  userId: string | null;
  createdAt: number;
  expiresAt: number;
  /** Seconds between polls; grows by 5 on every slow_down (RFC 8628 §3.5). */
  pollInterval: number;
  /** Time of the last accepted poll; null before the first. */
  lastPolledAt: number | null;
  decidedAt: number | null;
  requestIp: string | null;
  userAgent: string | null;
  /** The approval was revoked (by the person, or on token reuse); its tokens no longer work. */
  revokedAt: number | null;
}

export interface NewDeviceAuthorization {
  id: string;
  deviceCodeHash: string;
  userCodeHash: string;
  clientId: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number;
  pollInterval: number;
  requestIp: string | null;
  userAgent: string | null;
}

export interface AccessTokenRecord {
  id: string;
  tokenHash: string;
  clientId: string;
  userId: string;
  scopes: string[];
  deviceAuthorizationId: string | null;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

export interface NewAccessToken {
  id: string;
  tokenHash: string;
  clientId: string;
  userId: string;
  scopes: string[];
  deviceAuthorizationId: string;
  createdAt: number;
  expiresAt: number;
}

/** A refresh token has the fields of a new access token (always tied to its approval), plus its state. */
export interface RefreshTokenRecord extends NewAccessToken {
  /** Exchanged for a new refresh token: presenting it again is reuse. */
  rotatedAt: number | null;
  revokedAt: number | null;
}

export type NewRefreshToken = NewAccessToken;

/** One approval of a device by a person, as their list of devices shows it. */
export interface ApprovedDeviceRecord {
  grantId: string;
  clientId: string;
  clientName: string;
  scopes: string[];
  approvedAt: number;
  /** When the device last received a token (at approval or a refresh). */
  lastUsedAt: number;
}

/** What one purge removed. */
export interface PurgeCounts {
  deviceAuthorizations: number;
  accessTokens: number;
  refreshTokens: number;
  sessions: number;
  attemptCounters: number;
}

export interface SessionRecord {
  idHash: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
}

/** How failed attempts of one kind are limited; see src/auth/attempt-limits.ts. */
export interface AttemptPolicy {
  /** Failures within `windowSeconds` before the key is locked out. */
  maxFailures: number;
  /** Seconds a key stays locked after its last allowed failure; also the counting window. */
  lockoutSeconds: number;
  /** Back-off after the n-th failure (n >= 2) before the lockout: base * 2^(n-2) seconds. */
  backoffBaseSeconds: number;
}

/** A client and, when the code exists (for any client), the device authorization of a device code. */
export interface ClientWithDeviceAuthorization {
  client?: ClientRecord;
  authorization?: DeviceAuthorizationRecord;
}

/** An access token with the person and the client it was issued to (absent when deleted). */
export interface AccessTokenWithOwners {
  token: AccessTokenRecord;
  user?: UserRecord;
  client?: ClientRecord;
}

/**
 * A client and, when the token exists (whoever it was issued to), an access token with its
 * user; the token's user is absent when deleted.
 */
export interface ClientWithAccessToken {
  client?: ClientRecord;
  accessToken?: { token: AccessTokenRecord; user?: UserRecord };
}

/** The outcome of a poll: accepted, or too soon, with the interval that now applies. */
export type PollOutcome = { accepted: true } | { accepted: false; interval: number };

/** A poll of an approved code and its exchange: `exchanged` is false when the poll was refused. */
export type PollAndExchange = { poll: PollOutcome; exchanged: boolean };

export interface Store {
  findClient(clientId: string): Promise<ClientRecord | undefined>;
  /** Creates the client or replaces the one with the same id. */
  saveClient(client: ClientRecord, now: number): Promise<void>;

  /** Creates the user or replaces the one with the same id. */
  saveUser(user: UserRecord, now: number): Promise<void>;

  findUserById(userId: string): Promise<UserRecord | undefined>;
  findUserByUsername(username: string): Promise<UserRecord | undefined>;

  /** Throws `DuplicateUserCode` when the user-code hash is taken, so the caller retries. */
  createDeviceAuthorization(authorization: NewDeviceAuthorization): Promise<void>;
  findDeviceAuthorizationByDeviceCode(deviceCodeHash: string): Promise<DeviceAuthorizationRecord | undefined>;
  /** Looks up by any of the given user-code hashes (one per signing key, newest first). */
  findDeviceAuthorizationByUserCode(userCodeHashes: string[]): Promise<DeviceAuthorizationRecord | undefined>;

  /**
   * Records a poll at `now` if at least `pollInterval` seconds have passed since the last
   * accepted one (or there was none); otherwise adds 5 seconds to the interval and reports it.
   */
  recordPoll(authorizationId: string, now: number): Promise<PollOutcome>;

  /** pending and unexpired -> approved/denied by `userId`. False when it was not pending or expired. */
  decide(authorizationId: string, decision: 'approved' | 'denied', userId: string, now: number): Promise<boolean>;

  /**
   * approved -> consumed and the tokens stored, atomically. False when the authorization was
   * no longer approved (another poll won, or it was never approved): nothing is written then.
   */
  exchange(authorizationId: string, token: NewAccessToken, refreshToken?: NewRefreshToken): Promise<boolean>;

  /**
   * Revokes an approval and every access and refresh token issued from it, atomically (a
   * replayed device code, a reused refresh token, a person cutting a device off).
   */
  revokeGrant(authorizationId: string, now: number): Promise<void>;

  findAccessToken(tokenHash: string): Promise<AccessTokenRecord | undefined>;
  revokeAccessToken(tokenId: string, now: number): Promise<void>;

  findRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Marks `oldId` rotated and stores its successors, atomically, only if `oldId` was neither
   * rotated nor revoked. False means it was: the caller treats that as reuse.
   */
  rotateRefreshToken(oldId: string, now: number, access: NewAccessToken, refresh: NewRefreshToken): Promise<boolean>;

  /** The person's approvals that are not revoked and still have a live token. */
  listApprovedDevices(userId: string, now: number): Promise<ApprovedDeviceRecord[]>;

  /** Deletes up to `batchSize` rows of each kind that have expired before `before`. */
  purgeExpired(before: number, batchSize: number): Promise<PurgeCounts>;

  /** The latest time until which any of these counters is locked (0 when none is). */
  attemptsLockedUntil(keys: string[], now: number): Promise<number>;
  /**
   * Counts one failure against `key` (a new window when the old one has passed) and locks the
   * key for the policy's back-off or lockout. The increment is atomic across processes.
   * Resolves to the failures counted in the current window, this one included (so exactly
   * one caller sees the count reach `maxFailures`: the one that caused the lockout).
   */
  recordFailedAttempt(key: string, now: number, policy: AttemptPolicy): Promise<number>;
  /** Forgets the failures of `key` (after a successful sign-in to that account). */
  clearAttempts(key: string): Promise<void>;

  createSession(session: SessionRecord): Promise<void>;
  findSession(idHash: string): Promise<SessionRecord | undefined>;
  deleteSession(idHash: string): Promise<void>;

  /** Releases connections. */
  close(): Promise<void>;

  // --- Administration (src/admin/): registering and managing clients and users ----------------

  /** Every client, ordered by id. */
  listClients(): Promise<ClientRecord[]>;
  /** Inserts a new client; false (nothing written) when the id is taken. */
  createClient(client: ClientRecord, now: number): Promise<boolean>;
  /**
   * Replaces the fields an operator may change (name, scopes, grant types, can_introspect,
   * lifetimes) of an existing client; never its id, type or secret, so an update racing a
   * secret rotation cannot bring the old secret back. False when there is no such client.
   */
  updateClient(client: ClientRecord): Promise<boolean>;
  /** Replaces the secret hash of an existing client; false when there is no such client. */
  setClientSecretHash(clientId: string, secretHash: string): Promise<boolean>;
  /**
   * Deletes the client with its device authorizations, access tokens and refresh tokens,
   * atomically: none of its tokens works afterwards. False when there was no such client.
   */
  deleteClient(clientId: string): Promise<boolean>;

  /** Every user, ordered by username. */
  listUsers(): Promise<UserRecord[]>;
  /** Inserts a new user; false (nothing written) when the id or the username is taken. */
  createUser(user: UserRecord, now: number): Promise<boolean>;
  /**
   * Changes an existing user's disabled flag and/or password hash; false when there is no such
   * user. Disabling or a new password also ends the user's sign-in sessions, in the same
   * transaction.
   */
  updateUser(userId: string, changes: { disabled?: boolean; passwordHash?: string }): Promise<boolean>;
  // --- Operations (optional: a Store without them works; see the README, Health and Metrics) ---

  /**
   * Notes that a flow was found expired while still pending or approved (never exchanged).
   * One conditional write: true for the one caller, in any process, that noted it first, so
   * the flow is counted expired once. False when already noted, consumed, denied or unexpired.
   */
  noteExpired?(authorizationId: string, now: number): Promise<boolean>;

  /**
   * Whether the store can serve requests: the database answers and its schema is current.
   * Resolves to a short reason when it cannot (no secrets, no driver messages); may throw.
   */
  checkReady?(): Promise<{ ready: true } | { ready: false; reason: string }>;

  /** Connection pool usage, read at each metrics scrape. */
  poolStats?(): PoolStats;

  /**
   * The common poll in one conditional write (optional; MySQL: one round trip instead of a read
   * and a write). When public client `clientId` exists, may use `grantType`, and owns the
   * device code, which is pending and unexpired at `now`: records the poll as `recordPoll`
   * does and reports its outcome. Else undefined, and nothing was written: the caller then
   * makes every check itself, for the precise error.
   */
  recordPendingPoll?(clientId: string, grantType: string, deviceCodeHash: string, now: number): Promise<PollOutcome | undefined>;

  /**
   * The poll of an approved code and its exchange in one write (optional; SQLite: one group
   * commit instead of two, so the device has its tokens a turn of the event loop sooner).
   * Records the poll as `recordPoll` does; only when it is accepted, exchanges as `exchange`
   * does. Without it the token endpoint calls the two in turn.
   */
  recordPollAndExchange?(authorizationId: string, now: number, token: NewAccessToken, refreshToken?: NewRefreshToken): Promise<PollAndExchange>;

  // --- Combined reads (optional: combined-reads.ts reads the same rows one at a time without them) ---

  /** The token endpoint's client and the device code it polls, in one read. */
  findClientAndDeviceAuthorization?(clientId: string, deviceCodeHash: string): Promise<ClientWithDeviceAuthorization>;
  /** An access token with its user and client, in one read (every protected resource call). */
  findAccessTokenWithOwners?(tokenHash: string): Promise<AccessTokenWithOwners | undefined>;
  /** An introspecting client and the access token it asks about, with the token's user, in one read. */
  findClientAndAccessToken?(clientId: string, tokenHash: string): Promise<ClientWithAccessToken>;
}

/** Connections of a database pool. */
export interface PoolStats {
  used: number;
  free: number;
  /** Requests waiting for a connection. */
  pending: number;
  /** The most connections the pool may open. */
  size: number;
}

/** The user-code hash is already taken by another live or stored authorization. */
export class DuplicateUserCode extends Error {
  constructor() {
    super('user code already in use');
    this.name = 'DuplicateUserCode';
  }
}

/** The database could not be reached or did not answer in time. */
export class StoreUnavailable extends Error {
  constructor(readonly reason: unknown) {
    super(`database unavailable: ${reason instanceof Error ? reason.message : String(reason)}`);
    this.name = 'StoreUnavailable';
  }
}
