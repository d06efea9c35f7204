/**
 * The standalone server (`npm start`): reads the environment, migrates the database, seeds
 * demo data on the embedded default only, listens, and says where to go.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createApp } from './app';
import { createHttpServer } from './http/http-server';
import { checkSecretKeys, ConfigError } from './config/check';
import { loadConfig, type EnvConfig } from './config/env';
import { seedDemoData, type DemoData } from './demo-data';
import { migrateToLatest, openDatabase, parseDatabaseUrl, type DatabaseTarget } from './storage/database';
import { startPurgeJob } from './purge';
import { KnexStore } from './storage/knex-store';
import { createLogger } from './logging';

/** The embedded default keeps its own generated key next to its database file. */
function embeddedSecretKeys(target: DatabaseTarget): string[] {
  const file = join(dirname(target.location), 'secret-keys');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').split(/[\s,]+/).filter(Boolean);
}

/** JWT signing keys: the configured PEM files, or one generated next to the embedded database. */
function jwtSigningKeysFor(config: EnvConfig, target: DatabaseTarget): string[] | undefined {
  if (config.accessTokenFormat !== 'jwt') return undefined;
  if (config.jwtKeyFiles.length > 0) {
    return config.jwtKeyFiles.map((file) => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        throw new ConfigError(`OAUTH2_JWT_KEY_FILES: cannot read ${file}`);
      }
    });
  }
  if (!target.embedded) throw new ConfigError('OAUTH2_JWT_KEY_FILES is required for JWT access tokens with DATABASE_URL');
  const file = join(dirname(target.location), 'jwt-signing-key.pem');
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return [readFileSync(file, 'utf8')];
}

/** The embedded default keeps a generated admin token next to its database file. */
function embeddedAdminToken(target: DatabaseTarget): string[] {
  const file = join(dirname(target.location), 'admin-token');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `o2d_admin_${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').split(/[\s,]+/).filter(Boolean);
}

/** Configured tokens; else the embedded default's own; else none: the admin API is off. */
function adminTokensFor(config: EnvConfig, target: DatabaseTarget): string[] {
  if (config.adminTokens.length > 0) return config.adminTokens;
  return target.embedded ? embeddedAdminToken(target) : [];
}

function adminBannerLines(config: EnvConfig, target: DatabaseTarget, adminTokens: string[]): string[] {
  if (adminTokens.length === 0) return ['  admin API:  off (no OAUTH2_ADMIN_TOKENS configured; every /admin request answers 401)'];
  if (config.adminTokens.length > 0) return [`  admin API:  ${config.issuer}/admin (tokens from OAUTH2_ADMIN_TOKENS)`];
  return [
    `  admin API:  ${config.issuer}/admin  token (in ${join(dirname(target.location), 'admin-token')}): ${adminTokens[0]}`,
  ];
}

function secretKeysFor(config: EnvConfig, target: DatabaseTarget): string[] {
  if (config.secretKeys.length > 0) return checkSecretKeys(config.secretKeys);
  if (target.embedded) return embeddedSecretKeys(target);
  throw new ConfigError('OAUTH2_SECRET_KEYS is required with DATABASE_URL: set one or more keys of 32+ characters, comma-separated');
}

function banner(config: EnvConfig, target: DatabaseTarget, demo: DemoData | undefined, adminTokens: string[]): string {
  const lines = [
    `oauth2-devices is listening on ${config.issuer}`,
    `  database:   ${target.dialect === 'sqlite' ? `SQLite ${target.location}` : 'MySQL'}`,
    `  metadata:   ${config.issuer}/.well-known/oauth-authorization-server`,
    ...adminBannerLines(config, target, adminTokens),
    `  api docs:   ${config.issuer}/docs`,
    `  health:     ${config.issuer}/healthz, ${config.issuer}/readyz   metrics: ${config.issuer}/metrics`,
    `  activate:   ${config.issuer}/activate`,
  ];
  if (demo) {
    lines.push(
      '',
      'Demo data (embedded database only; secrets are new at every start):',
      `  public client:        ${demo.publicClientId}`,
      `  confidential client:  ${demo.confidentialClientId}  secret: ${demo.confidentialClientSecret}`,
      `  user:                 ${demo.username}  password: ${demo.password}`,
      '',
      'Try it: in another terminal, be the device:',
      `  npm run device -- --issuer ${config.issuer} --client-id ${demo.publicClientId} --scope "profile email"`,
      `then open the link it shows, sign in as ${demo.username}, and approve. Or with curl:`,
      `  curl -s -d client_id=${demo.publicClientId} -d scope="profile email" ${config.issuer}/oauth/device_authorization`,
      `  curl -s -d grant_type=urn:ietf:params:oauth:grant-type:device_code -d client_id=${demo.publicClientId} -d device_code=... ${config.issuer}/oauth/token`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const config = loadConfig();
  const target = parseDatabaseUrl(config.databaseUrl);
  const secretKeys = secretKeysFor(config, target);
  const knex = openDatabase(target, { poolSize: config.databasePoolSize, sqliteCacheMb: config.sqliteCacheMb });
  await migrateToLatest(knex);
  const store = new KnexStore(knex);
  const demo = target.embedded ? await seedDemoData(store) : undefined;

  const jwtSigningKeys = jwtSigningKeysFor(config, target);
  const adminTokens = adminTokensFor(config, target);
  const logger = createLogger(config.logLevel);
  const { app } = await createApp(Object.assign({}, config, { store, secretKeys, jwtSigningKeys, adminTokens, logger }));
  // While stopping (drain() below), every response, in flight or new, closes its connection after it.
  const server = createHttpServer(app.callback(), config);
  server.listen(config.port, config.host, () => console.log(banner(config, target, demo, adminTokens)));
  const purgeJob = startPurgeJob(store, config.purgeInterval, Date.now, (err) => logger.error({ err }, 'purge failed'));

  const shutdown = (signal: string) => {
    console.log(`${signal}: finishing requests in flight, then stopping`);
    purgeJob.stop();
    // Stop accepting, let requests in flight finish on connections that then close, and drop
    // idle keep-alive connections.
    server.drain(); // the answers still to come close their connections
    server.close(() => void store.close().then(() => process.exit(0)));
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err) => {
  if (err instanceof ConfigError || (err instanceof Error && err.message.startsWith('DATABASE_URL'))) {
    console.error(`configuration error: ${err.message}`);
  } else {
    console.error('failed to start:', err);
  }
  process.exit(1);
});
