/**
 * What `createApp` takes, and the same options after defaults are filled in and every value
 * has been checked. Library users pass these; the standalone server builds them from the
 * environment (config/env.ts).
 */
import type { KeyObject } from 'node:crypto';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { ServerEvent } from './events';
import { createLogger } from './logging';
import { signingKeyFromPem, type SigningKey } from './helpers/jwt';
import { checkAdminTokens, checkGuessingCeiling, checkInteger, checkIssuer, checkOptionalUri, checkScopes, checkSecretKeys, checkUserCode, ConfigError } from './config/check';
import { defaults } from './config/defaults';
import type { AttemptPolicy, Store, UserRecord } from './storage/store';

export interface ServerOptions {
  /** Public base URL; see defaults.ts. */
  issuer: string;
  /** Where flows, tokens, clients and users live. `KnexStore` is the default implementation. */
  store: Store;
  /** Keys for cookies and user-code hashes, newest first (see defaults.ts). */
  secretKeys: string[];
  deviceCodeLifetime?: number;
  pollInterval?: number;
  /** Issue device codes that carry their time (see defaults.ts); false during a rolling upgrade from an older release. */
  timedDeviceCodes?: boolean;
  /** Issue opaque tokens that carry their time (see defaults.ts); false during a rolling upgrade from an older release. */
  timedTokens?: boolean;
  accessTokenLifetime?: number;
  refreshTokenLifetime?: number;
  purgeInterval?: number;
  sessionLifetime?: number;
  accessTokenFormat?: 'opaque' | 'jwt';
  /** PEM private keys (or KeyObjects) that sign JWT access tokens, newest first. */
  jwtSigningKeys?: Array<string | KeyObject>;
  jwtAudience?: string;
  errorUri?: string;
  bodyLimit?: number;
  scopes?: Record<string, string>;
  userCodeLength?: number;
  userCodeAlphabet?: string;
  userCodeMaxFailures?: number;
  userCodeLockout?: number;
  attemptBackoff?: number;
  signInMaxFailures?: number;
  signInLockout?: number;
  guessCeilingBits?: number;
  trustProxy?: boolean;
  /** RFC 6750 §2.2: also accept an access token in a form-encoded POST body (default: header only). */
  acceptBearerInFormBody?: boolean;
  /** Milliseconds since the epoch. Injected by tests; defaults to Date.now. */
  clock?: () => number;
  /**
   * The seed's `get_current_user`: returns the person signed in to the integrator's own
   * application, or undefined. When given, it replaces the built-in local accounts.
   */
  getCurrentUser?: (ctx: Context) => Promise<UserRecord | undefined>;
  /** Where unexpected errors go (default: the logger, at level error). Kept for compatibility. */
  logError?: (err: unknown, ctx: Context) => void;
  /** Bearer tokens of the admin API, newest first, 32+ characters each; none: the admin API is off. */
  adminTokens?: string[];

  // --- Operations: logs, request ids, metrics, events (see the README) ---

  /**
   * A pino logger for the JSON request lines and errors. Default: JSON lines on stdout at
   * level `info`, as the standalone server writes them; pass `pino({ level: 'silent' })` to
   * turn them off, or your application's logger (a child of it) to merge them with yours.
   */
  logger?: Logger;
  /** Take `X-Request-Id` from the request (when well-formed) instead of always making one. */
  trustRequestId?: boolean;
  /** When set, `GET /metrics` needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  /** Hears every event (device flows, tokens, lockouts) after its write committed. */
  onEvent?: (event: ServerEvent) => void | Promise<void>;
}

export interface ResolvedOptions {
  issuer: string;
  store: Store;
  secretKeys: string[];
  deviceCodeLifetime: number;
  pollInterval: number;
  timedDeviceCodes: boolean;
  timedTokens: boolean;
  accessTokenLifetime: number;
  refreshTokenLifetime: number;
  purgeInterval: number;
  sessionLifetime: number;
  /** Set when access tokens are JWTs: the signing keys (first signs) and the audience. */
  jwt: { keys: SigningKey[]; audience: string } | undefined;
  errorUri: string | undefined;
  bodyLimit: number;
  scopes: Record<string, string>;
  userCode: { length: number; alphabet: string };
  /** How wrong user codes and failed sign-ins are limited, per IP address and per account. */
  limits: { userCode: AttemptPolicy; signIn: AttemptPolicy };
  /** One attacker's chance of guessing a live code, as bits (-log2 p), for the documentation. */
  guessResistanceBits: number;
  trustProxy: boolean;
  acceptBearerInFormBody: boolean;
  clock: () => number;
  getCurrentUser: ((ctx: Context) => Promise<UserRecord | undefined>) | undefined;
  logError: (err: unknown, ctx: Context) => void;
  /** Empty when the admin API is off. */
  adminTokens: string[];
  logger: Logger;
  trustRequestId: boolean;
  metricsToken: string | undefined;
  onEvent: ((event: ServerEvent) => void | Promise<void>) | undefined;
}

/** The attempt limits, checked, and the guessing chance they leave (RFC 8628 §5.1). */
export function resolveLimits(
  options: Pick<ServerOptions, 'userCodeMaxFailures' | 'userCodeLockout' | 'attemptBackoff' | 'signInMaxFailures' | 'signInLockout' | 'guessCeilingBits'>,
  userCode: { length: number; alphabet: string },
  deviceCodeLifetime: number,
): { limits: ResolvedOptions['limits']; guessResistanceBits: number } {
  const backoffBaseSeconds = checkInteger('attemptBackoff', options.attemptBackoff ?? defaults.attemptBackoff, 0, 3600);
  const limits = {
    userCode: {
      maxFailures: checkInteger('userCodeMaxFailures', options.userCodeMaxFailures ?? defaults.userCodeMaxFailures, 1, 1000),
      lockoutSeconds: checkInteger('userCodeLockout', options.userCodeLockout ?? defaults.userCodeLockout, 10, 7 * 86400),
      backoffBaseSeconds,
    },
    signIn: {
      maxFailures: checkInteger('signInMaxFailures', options.signInMaxFailures ?? defaults.signInMaxFailures, 1, 1000),
      lockoutSeconds: checkInteger('signInLockout', options.signInLockout ?? defaults.signInLockout, 10, 7 * 86400),
      backoffBaseSeconds,
    },
  };
  const ceiling = checkInteger('guessCeilingBits', options.guessCeilingBits ?? defaults.guessCeilingBits, 0, 128);
  return { limits, guessResistanceBits: checkGuessingCeiling(userCode, deviceCodeLifetime, limits.userCode, ceiling) };
}

function resolveJwt(options: ServerOptions, issuer: string): ResolvedOptions['jwt'] {
  const format = options.accessTokenFormat ?? defaults.accessTokenFormat;
  if (format !== 'opaque' && format !== 'jwt') throw new ConfigError(`accessTokenFormat (OAUTH2_ACCESS_TOKEN_FORMAT) must be opaque or jwt, got ${JSON.stringify(format)}`);
  if (format === 'opaque') return undefined;
  const pems = options.jwtSigningKeys ?? [];
  if (pems.length === 0) throw new ConfigError('JWT access tokens need at least one signing key (jwtSigningKeys, OAUTH2_JWT_KEY_FILES)');
  const keys = pems.map((pem, i) => {
    try {
      return signingKeyFromPem(pem);
    } catch (err) {
      throw new ConfigError(`JWT signing key ${i + 1} (OAUTH2_JWT_KEY_FILES): ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  return { keys, audience: options.jwtAudience ?? issuer };
}

export function checkMetricsToken(value: unknown): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length < 16 || !/^[\x21-\x7E]+$/.test(value)) {
    throw new ConfigError('metricsToken (OAUTH2_METRICS_TOKEN) must be 16 or more printable characters without spaces');
  }
  return value;
}

export function resolveOptions(options: ServerOptions): ResolvedOptions {
  if (!options.store) throw new ConfigError('store is required: pass a KnexStore or your own Store');
  const logger = options.logger ?? createLogger();
  const deviceCodeLifetime = checkInteger('deviceCodeLifetime', options.deviceCodeLifetime ?? defaults.deviceCodeLifetime, 10, 86400);
  const pollInterval = checkInteger('pollInterval', options.pollInterval ?? defaults.pollInterval, 1, 3600);
  if (pollInterval >= deviceCodeLifetime) throw new ConfigError('pollInterval must be shorter than deviceCodeLifetime');
  const userCode = checkUserCode(options.userCodeLength ?? defaults.userCodeLength, options.userCodeAlphabet ?? defaults.userCodeAlphabet);
  const issuer = checkIssuer(options.issuer);
  return {
    issuer,
    jwt: resolveJwt(options, issuer),
    store: options.store,
    secretKeys: checkSecretKeys(options.secretKeys),
    deviceCodeLifetime,
    pollInterval,
    timedDeviceCodes: options.timedDeviceCodes ?? defaults.timedDeviceCodes,
    timedTokens: options.timedTokens ?? defaults.timedTokens,
    accessTokenLifetime: checkInteger('accessTokenLifetime', options.accessTokenLifetime ?? defaults.accessTokenLifetime, 60, 31 * 86400),
    refreshTokenLifetime: checkInteger('refreshTokenLifetime', options.refreshTokenLifetime ?? defaults.refreshTokenLifetime, 60, 366 * 86400),
    purgeInterval: checkInteger('purgeInterval', options.purgeInterval ?? defaults.purgeInterval, 0, 7 * 86400),
    sessionLifetime: checkInteger('sessionLifetime', options.sessionLifetime ?? defaults.sessionLifetime, 60, 31 * 86400),
    errorUri: checkOptionalUri('errorUri', options.errorUri),
    bodyLimit: checkInteger('bodyLimit', options.bodyLimit ?? defaults.bodyLimit, 1024, 1024 * 1024),
    scopes: checkScopes(options.scopes ?? defaults.scopes),
    userCode,
    trustProxy: options.trustProxy ?? defaults.trustProxy,
    acceptBearerInFormBody: options.acceptBearerInFormBody ?? false,
    clock: options.clock ?? Date.now,
    getCurrentUser: options.getCurrentUser,
    logError:
      options.logError ??
      ((err, ctx) => logger.error({ err, reqId: ctx.state.requestId, method: ctx.method, path: ctx.path }, 'unexpected error')),
    logger,
    trustRequestId: options.trustRequestId ?? defaults.trustRequestId,
    metricsToken: checkMetricsToken(options.metricsToken),
    onEvent: options.onEvent,
    adminTokens: checkAdminTokens(options.adminTokens),
    ...resolveLimits(options, userCode, deviceCodeLifetime), // last: see test/unit/object-spread.test.ts
  };
}

/** The URLs the server publishes, all under the issuer. */
export function endpoints(issuer: string) {
  return {
    deviceAuthorization: `${issuer}/oauth/device_authorization`,
    token: `${issuer}/oauth/token`,
    revocation: `${issuer}/oauth/revoke`,
    introspection: `${issuer}/oauth/introspect`,
    verification: `${issuer}/activate`,
    me: `${issuer}/api/me`,
    jwks: `${issuer}/.well-known/jwks.json`,
    metadata: `${issuer}/.well-known/oauth-authorization-server`,
  };
}
