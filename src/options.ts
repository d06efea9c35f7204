/**
 * What `createApp` takes, and the same options after defaults are filled in and every value
 * has been checked. Library users pass these; the standalone server builds them from the
 * environment (config/env.ts).
 */
import type { Context } from 'koa';
import { checkInteger, checkIssuer, checkOptionalUri, checkScopes, checkSecretKeys, checkUserCode, ConfigError } from './config/check';
import { defaults } from './config/defaults';
import type { Store, UserRecord } from './storage/store';

export interface ServerOptions {
  /** Public base URL; see defaults.ts. */
  issuer: string;
  /** Where flows, tokens, clients and users live. `KnexStore` is the default implementation. */
  store: Store;
  /** Keys for cookies and user-code hashes, newest first (see defaults.ts). */
  secretKeys: string[];
  deviceCodeLifetime?: number;
  pollInterval?: number;
  accessTokenLifetime?: number;
  sessionLifetime?: number;
  errorUri?: string;
  bodyLimit?: number;
  scopes?: Record<string, string>;
  userCodeLength?: number;
  userCodeAlphabet?: string;
  trustProxy?: boolean;
  /** Milliseconds since the epoch. Injected by tests; defaults to Date.now. */
  clock?: () => number;
  /**
   * The seed's `get_current_user`: returns the person signed in to the integrator's own
   * application, or undefined. When given, it replaces the built-in local accounts.
   */
  getCurrentUser?: (ctx: Context) => Promise<UserRecord | undefined>;
  /** Where unexpected errors go (defaults to console.error). */
  logError?: (err: unknown, ctx: Context) => void;
}

export interface ResolvedOptions {
  issuer: string;
  store: Store;
  secretKeys: string[];
  deviceCodeLifetime: number;
  pollInterval: number;
  accessTokenLifetime: number;
  sessionLifetime: number;
  errorUri: string | undefined;
  bodyLimit: number;
  scopes: Record<string, string>;
  userCode: { length: number; alphabet: string };
  trustProxy: boolean;
  clock: () => number;
  getCurrentUser: ((ctx: Context) => Promise<UserRecord | undefined>) | undefined;
  logError: (err: unknown, ctx: Context) => void;
}

export function resolveOptions(options: ServerOptions): ResolvedOptions {
  if (!options.store) throw new ConfigError('store is required: pass a KnexStore or your own Store');
  const deviceCodeLifetime = checkInteger('deviceCodeLifetime', options.deviceCodeLifetime ?? defaults.deviceCodeLifetime, 10, 86400);
  const pollInterval = checkInteger('pollInterval', options.pollInterval ?? defaults.pollInterval, 1, 3600);
  if (pollInterval >= deviceCodeLifetime) throw new ConfigError('pollInterval must be shorter than deviceCodeLifetime');
  return {
    issuer: checkIssuer(options.issuer),
    store: options.store,
    secretKeys: checkSecretKeys(options.secretKeys),
    deviceCodeLifetime,
    pollInterval,
    accessTokenLifetime: checkInteger('accessTokenLifetime', options.accessTokenLifetime ?? defaults.accessTokenLifetime, 60, 31 * 86400),
    sessionLifetime: checkInteger('sessionLifetime', options.sessionLifetime ?? defaults.sessionLifetime, 60, 31 * 86400),
    errorUri: checkOptionalUri('errorUri', options.errorUri),
    bodyLimit: checkInteger('bodyLimit', options.bodyLimit ?? defaults.bodyLimit, 1024, 1024 * 1024),
    scopes: checkScopes(options.scopes ?? defaults.scopes),
    userCode: checkUserCode(options.userCodeLength ?? defaults.userCodeLength, options.userCodeAlphabet ?? defaults.userCodeAlphabet),
    trustProxy: options.trustProxy ?? defaults.trustProxy,
    clock: options.clock ?? Date.now,
    getCurrentUser: options.getCurrentUser,
    logError: options.logError ?? ((err, ctx) => console.error(`error in ${ctx.method} ${ctx.path}:`, err)),
  };
}

/** The URLs the server publishes, all under the issuer. */
export function endpoints(issuer: string) {
  return {
    deviceAuthorization: `${issuer}/oauth/device_authorization`,
    token: `${issuer}/oauth/token`,
    verification: `${issuer}/activate`,
    me: `${issuer}/api/me`,
    metadata: `${issuer}/.well-known/oauth-authorization-server`,
  };
}
