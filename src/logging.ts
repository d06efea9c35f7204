/**
 * Structured JSON logs with pino. Log lines name requests by id, method, path (never the query
 * string), operation, status, duration and client IP; they never carry a body, a form value, a
 * query string or an Authorization or Cookie header. `redact` is a second belt: should such a
 * field ever be passed to the logger by mistake, its value is replaced.
 */
import pino, { type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Field names whose values are secrets, at the top of a log object. */
const SECRET_FIELDS = [
  'password',
  'client_secret',
  'clientSecret',
  'device_code',
  'deviceCode',
  'user_code',
  'userCode',
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'token',
  'secret',
  'authorization',
  'cookie',
  'query',
  'body',
  'form',
];

/**
 * Explicit paths only: a wildcard path (`*.password`) makes every log line cost about 25 µs
 * more, which a request line cannot afford; nothing here logs nested objects of that kind.
 */
export const REDACT_PATHS = [
  ...SECRET_FIELDS,
  'req.headers.authorization',
  'req.headers.cookie',
  'req.query',
  'req.body',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
];

/** The logger of the standalone server, and the default of `createApp`: JSON lines on stdout. */
export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}

/** X-Request-Id values accepted from a trusted proxy: 1 to 128 safe characters. */
export const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;
