/**
 * Reads the standalone server's configuration from environment variables (see defaults.ts for
 * each one) and checks it. Library users pass options to createApp instead.
 */
import { checkAdminTokens, checkInteger, checkIssuer, checkOptionalUri, checkScopes, checkUserCode, ConfigError } from './check';
import { checkMetricsToken, resolveLimits } from '../options';
import { LOG_LEVELS, type LogLevel } from '../logging';
import { defaults, settings, type Defaults } from './defaults';

export interface EnvConfig {
  port: number;
  host: string;
  issuer: string;
  databaseUrl?: string;
  secretKeys: string[];
  deviceCodeLifetime: number;
  pollInterval: number;
  timedDeviceCodes: boolean;
  timedTokens: boolean;
  accessTokenLifetime: number;
  refreshTokenLifetime: number;
  purgeInterval: number;
  accessTokenFormat: 'opaque' | 'jwt';
  /** Paths; main.ts reads them (or generates a key for the embedded default). */
  jwtKeyFiles: string[];
  jwtAudience?: string;
  sessionLifetime: number;
  errorUri?: string;
  bodyLimit: number;
  requestTimeout: number;
  maxHeaderBytes: number;
  scopes: Record<string, string>;
  userCodeLength: number;
  userCodeAlphabet: string;
  userCodeMaxFailures: number;
  userCodeLockout: number;
  attemptBackoff: number;
  signInMaxFailures: number;
  signInLockout: number;
  guessCeilingBits: number;
  trustProxy: boolean;
  /** Bearer tokens of the admin API; empty: none configured (see main.ts). */
  adminTokens: string[];
  logLevel: LogLevel;
  trustRequestId: boolean;
  metricsToken?: string;
  /** MySQL pool size (performance). */
  databasePoolSize: number;
  sqliteCacheMb: number;
}

type Env = Record<string, string | undefined>;

function raw(env: Env, key: keyof Defaults): string | undefined {
  const value = env[settings[key].env];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function integer(env: Env, key: keyof Defaults, fallback: number, min: number, max: number): number {
  const text = raw(env, key);
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(`${key} (${settings[key].env}) must be a whole number, got ${JSON.stringify(text)}`);
  }
  return checkInteger(key, Number(text), min, max);
}

function boolean(env: Env, key: keyof Defaults, fallback: boolean): boolean {
  const text = raw(env, key)?.toLowerCase();
  if (text === undefined) return fallback;
  if (['1', 'true', 'yes'].includes(text)) return true;
  if (['0', 'false', 'no'].includes(text)) return false;
  throw new ConfigError(`${key} (${settings[key].env}) must be true or false, got ${JSON.stringify(text)}`);
}

/** `name=description;name=description` */
function scopes(env: Env): Record<string, string> {
  const text = raw(env, 'scopes');
  if (text === undefined) return defaults.scopes;
  const entries = text.split(';').map((pair) => pair.trim()).filter(Boolean).map((pair) => {
    const at = pair.indexOf('=');
    return at < 0 ? [pair, pair] : [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
  });
  return checkScopes(Object.fromEntries(entries));
}

function accessTokenFormat(env: Env): 'opaque' | 'jwt' {
  const text = raw(env, 'accessTokenFormat')?.toLowerCase() ?? defaults.accessTokenFormat;
  if (text !== 'opaque' && text !== 'jwt') {
    throw new ConfigError(`accessTokenFormat (${settings.accessTokenFormat.env}) must be opaque or jwt, got ${JSON.stringify(text)}`);
  }
  return text;
}

function logLevel(env: Env): LogLevel {
  const text = raw(env, 'logLevel')?.toLowerCase() ?? defaults.logLevel;
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new ConfigError(`logLevel (${settings.logLevel.env}) must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return text as LogLevel;
}

export function loadConfig(env: Env = process.env): EnvConfig {
  const port = integer(env, 'port', defaults.port, 0, 65535);
  const issuer = checkIssuer(raw(env, 'issuer') ?? `http://localhost:${port}`);
  const deviceCodeLifetime = integer(env, 'deviceCodeLifetime', defaults.deviceCodeLifetime, 10, 86400);
  const pollInterval = integer(env, 'pollInterval', defaults.pollInterval, 1, 3600);
  if (pollInterval >= deviceCodeLifetime) {
    throw new ConfigError(`pollInterval (${settings.pollInterval.env}) must be shorter than the device code lifetime`);
  }
  const userCode = checkUserCode(
    integer(env, 'userCodeLength', defaults.userCodeLength, 1, 64),
    raw(env, 'userCodeAlphabet') ?? defaults.userCodeAlphabet,
  );
  const limits = {
    userCodeMaxFailures: integer(env, 'userCodeMaxFailures', defaults.userCodeMaxFailures, 1, 1000),
    userCodeLockout: integer(env, 'userCodeLockout', defaults.userCodeLockout, 10, 7 * 86400),
    attemptBackoff: integer(env, 'attemptBackoff', defaults.attemptBackoff, 0, 3600),
    signInMaxFailures: integer(env, 'signInMaxFailures', defaults.signInMaxFailures, 1, 1000),
    signInLockout: integer(env, 'signInLockout', defaults.signInLockout, 10, 7 * 86400),
    guessCeilingBits: integer(env, 'guessCeilingBits', defaults.guessCeilingBits, 0, 128),
  };
  resolveLimits(limits, userCode, deviceCodeLifetime); // refuses limits that make guessing too likely
  return {
    port,
    host: raw(env, 'host') ?? defaults.host,
    issuer,
    databaseUrl: raw(env, 'databaseUrl'),
    // Checked where they are known to be required (see main.ts): the embedded default makes its own.
    secretKeys: (raw(env, 'secretKeys') ?? '').split(',').map((k) => k.trim()).filter(Boolean),
    deviceCodeLifetime,
    pollInterval,
    accessTokenLifetime: integer(env, 'accessTokenLifetime', defaults.accessTokenLifetime, 60, 31 * 86400),
    accessTokenFormat: accessTokenFormat(env),
    jwtKeyFiles: (raw(env, 'jwtKeyFiles') ?? '').split(',').map((f) => f.trim()).filter(Boolean),
    jwtAudience: raw(env, 'jwtAudience'),
    refreshTokenLifetime: integer(env, 'refreshTokenLifetime', defaults.refreshTokenLifetime, 60, 366 * 86400),
    purgeInterval: integer(env, 'purgeInterval', defaults.purgeInterval, 0, 7 * 86400),
    sessionLifetime: integer(env, 'sessionLifetime', defaults.sessionLifetime, 60, 31 * 86400),
    errorUri: checkOptionalUri('errorUri', raw(env, 'errorUri')),
    bodyLimit: integer(env, 'bodyLimit', defaults.bodyLimit, 1024, 1024 * 1024),
    requestTimeout: integer(env, 'requestTimeout', defaults.requestTimeout, 1, 600),
    maxHeaderBytes: integer(env, 'maxHeaderBytes', defaults.maxHeaderBytes, 1024, 1024 * 1024),
    scopes: scopes(env),
    userCodeLength: userCode.length,
    userCodeAlphabet: userCode.alphabet,
    trustProxy: boolean(env, 'trustProxy', defaults.trustProxy),
    adminTokens: checkAdminTokens((raw(env, 'adminTokens') ?? '').split(',').map((t) => t.trim()).filter(Boolean)),
    logLevel: logLevel(env),
    trustRequestId: boolean(env, 'trustRequestId', defaults.trustRequestId),
    timedDeviceCodes: boolean(env, 'timedDeviceCodes', defaults.timedDeviceCodes),
    timedTokens: boolean(env, 'timedTokens', defaults.timedTokens),
    metricsToken: checkMetricsToken(raw(env, 'metricsToken')),
    databasePoolSize: integer(env, 'databasePoolSize', defaults.databasePoolSize, 1, 1000),
    sqliteCacheMb: integer(env, 'sqliteCacheMb', defaults.sqliteCacheMb, 1, 65536),
    ...limits, // last: a literal that starts with a spread is slow on Node 20 (test/unit/object-spread.test.ts)
  };
}
