/** The library: build the server into your own Koa app, or plug in your own storage. */
export { createApp, loadSpec, type OAuth2DevicesServer } from './app';
export { createHttpServer, type HttpServer, type HttpServerOptions } from './http/http-server';
export type { ServerOptions } from './options';
export { registerClient, registerUser, type NewClient, type NewUser } from './accounts';
export { requireOAuthFactory, verifyBearer, type OAuthContext } from './auth/bearer';
export { ConfigError } from './config/check';
export { defaults, settings } from './config/defaults';
export { loadConfig } from './config/env';
export * from './http/errors';
export { KnexStore } from './storage/knex-store';
export { purgeExpired, startPurgeJob } from './purge';
export { migrateToLatest, openDatabase, parseDatabaseUrl } from './storage/database';
export * from './storage/store';
export type { ServerEvent, ServerEventBody, ServerEventType, EventOfType, ServerEvents } from './events';
export { createLogger } from './logging';
export type { ServerMetrics } from './metrics';
