import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect } from 'chai';
import { ConfigError } from '../../src/config/check';
import { settings, USER_CODE_ALPHABET_RFC8628 } from '../../src/config/defaults';
import { loadConfig } from '../../src/config/env';
import { resolveOptions } from '../../src/options';
import type { Store } from '../../src/storage/store';
import { forEachDatabase } from '../support/databases';
import { DEVICE_GRANT, makePublicClient, startServer, TEST_SECRET_KEYS } from '../support/server';

/** Runs `load` and returns the ConfigError it throws; fails if it throws nothing or something else. */
function configError(load: () => unknown): ConfigError {
  let thrown: unknown;
  try {
    load();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected a ConfigError').to.be.instanceOf(ConfigError);
  return thrown as ConfigError;
}

describe('configuration from the environment (loadConfig)', () => {
  it('an empty environment gives the documented defaults', () => {
    expect(loadConfig({})).to.deep.equal({
      port: 3000,
      host: '127.0.0.1',
      issuer: 'http://localhost:3000',
      databaseUrl: undefined,
      secretKeys: [],
      deviceCodeLifetime: 900,
      pollInterval: 5,
      timedDeviceCodes: true,
      timedTokens: true,
      accessTokenLifetime: 3600,
      accessTokenFormat: 'opaque',
      jwtKeyFiles: [],
      jwtAudience: undefined,
      refreshTokenLifetime: 2592000,
      purgeInterval: 3600,
      sessionLifetime: 28800,
      errorUri: undefined,
      bodyLimit: 16384,
      requestTimeout: 10,
      maxHeaderBytes: 16384,
      scopes: { profile: 'See your name and username', email: 'See your email address', devices: 'See and revoke the devices connected to your account' },
      userCodeLength: 8,
      userCodeAlphabet: 'BCDFGHJKLMNPQRSTVWXZ',
      userCodeMaxFailures: 5,
      userCodeLockout: 3600,
      attemptBackoff: 1,
      signInMaxFailures: 10,
      signInLockout: 900,
      guessCeilingBits: 32,
      trustProxy: false,
      adminTokens: [],
      logLevel: 'info',
      trustRequestId: false,
      metricsToken: undefined,
      databasePoolSize: 20,
      sqliteCacheMb: 4,
    });
  });

  it('the default issuer follows PORT', () => {
    expect(loadConfig({ PORT: '8123' }).issuer).to.equal('http://localhost:8123');
  });

  it('the documented defaults agree with the settings table', () => {
    const config = loadConfig({});
    expect(settings.port.shown).to.equal(String(config.port));
    expect(settings.deviceCodeLifetime.shown).to.equal(String(config.deviceCodeLifetime));
    expect(settings.pollInterval.shown).to.equal(String(config.pollInterval));
    expect(settings.accessTokenLifetime.shown).to.equal(String(config.accessTokenLifetime));
    expect(settings.sessionLifetime.shown).to.equal(String(config.sessionLifetime));
    expect(settings.bodyLimit.shown).to.equal(String(config.bodyLimit));
    expect(settings.userCodeLength.shown).to.equal(String(config.userCodeLength));
    expect(settings.userCodeAlphabet.shown).to.equal(config.userCodeAlphabet);
  });

  it('reads every value it is given', () => {
    const config = loadConfig({
      PORT: '4000',
      HOST: '0.0.0.0',
      OAUTH2_ISSUER: 'https://auth.example.test/',
      DATABASE_URL: 'sqlite:/tmp/x.sqlite',
      OAUTH2_SECRET_KEYS: ' key-one-0123456789abcdefghijklmnopqrstuv , key-two-0123456789abcdefghijklmnopqrstuv ',
      OAUTH2_DEVICE_CODE_TTL: '600',
      OAUTH2_POLL_INTERVAL: '10',
      OAUTH2_TIMED_DEVICE_CODES: 'false',
      OAUTH2_TIMED_TOKENS: 'false',
      OAUTH2_ACCESS_TOKEN_TTL: '120',
      OAUTH2_SESSION_TTL: '300',
      OAUTH2_REFRESH_TOKEN_TTL: '86400',
      OAUTH2_ACCESS_TOKEN_FORMAT: 'JWT',
      OAUTH2_JWT_KEY_FILES: '/keys/new.pem, /keys/old.pem',
      OAUTH2_JWT_AUDIENCE: 'https://api.example.test',
      OAUTH2_PURGE_INTERVAL: '0',
      OAUTH2_ERROR_URI: 'https://docs.example.test/errors',
      OAUTH2_BODY_LIMIT: '2048',
      OAUTH2_REQUEST_TIMEOUT: '30',
      OAUTH2_MAX_HEADER_BYTES: '8192',
      OAUTH2_SCOPES: 'profile=Your profile; tv:watch=Watch TV',
      OAUTH2_USER_CODE_LENGTH: '12',
      OAUTH2_USER_CODE_ALPHABET: '0123456789',
      OAUTH2_USER_CODE_MAX_FAILURES: '3',
      OAUTH2_USER_CODE_LOCKOUT: '1200',
      OAUTH2_ATTEMPT_BACKOFF: '2',
      OAUTH2_SIGNIN_MAX_FAILURES: '7',
      OAUTH2_SIGNIN_LOCKOUT: '600',
      OAUTH2_GUESS_CEILING_BITS: '30',
      OAUTH2_TRUST_PROXY: 'yes',
      OAUTH2_ADMIN_TOKENS: ' admin-new-0123456789abcdefghijklmnopqrst , admin-old-0123456789abcdefghijklmnopqrst ',
      OAUTH2_LOG_LEVEL: 'Warn',
      OAUTH2_TRUST_REQUEST_ID: 'true',
      OAUTH2_METRICS_TOKEN: 'metrics-token-0123456789',
      DATABASE_POOL_SIZE: '4',
      SQLITE_CACHE_MB: '32',
    });
    expect(config).to.deep.equal({
      port: 4000,
      host: '0.0.0.0',
      issuer: 'https://auth.example.test',
      databaseUrl: 'sqlite:/tmp/x.sqlite',
      secretKeys: ['key-one-0123456789abcdefghijklmnopqrstuv', 'key-two-0123456789abcdefghijklmnopqrstuv'],
      deviceCodeLifetime: 600,
      pollInterval: 10,
      timedDeviceCodes: false,
      timedTokens: false,
      accessTokenLifetime: 120,
      accessTokenFormat: 'jwt',
      jwtKeyFiles: ['/keys/new.pem', '/keys/old.pem'],
      jwtAudience: 'https://api.example.test',
      refreshTokenLifetime: 86400,
      purgeInterval: 0,
      sessionLifetime: 300,
      errorUri: 'https://docs.example.test/errors',
      bodyLimit: 2048,
      requestTimeout: 30,
      maxHeaderBytes: 8192,
      scopes: { profile: 'Your profile', 'tv:watch': 'Watch TV' },
      userCodeLength: 12,
      userCodeAlphabet: '0123456789',
      userCodeMaxFailures: 3,
      userCodeLockout: 1200,
      attemptBackoff: 2,
      signInMaxFailures: 7,
      signInLockout: 600,
      guessCeilingBits: 30,
      trustProxy: true,
      adminTokens: ['admin-new-0123456789abcdefghijklmnopqrst', 'admin-old-0123456789abcdefghijklmnopqrst'],
      logLevel: 'warn',
      trustRequestId: true,
      metricsToken: 'metrics-token-0123456789',
      databasePoolSize: 4,
      sqliteCacheMb: 32,
    });
  });

  it('OAUTH2_ADMIN_TOKENS: a token shorter than 32 characters is refused naming the variable and the token', () => {
    const err = configError(() => loadConfig({ OAUTH2_ADMIN_TOKENS: `${'a'.repeat(32)},${'b'.repeat(31)}` }));
    expect(err.message).to.include('OAUTH2_ADMIN_TOKENS');
    expect(err.message).to.include('token 2');
    expect(err.message).to.include('32');
    expect(err.message, 'the token itself is not echoed').not.to.include('b'.repeat(31));
    expect(loadConfig({ OAUTH2_ADMIN_TOKENS: 'a'.repeat(32) }).adminTokens).to.deep.equal(['a'.repeat(32)]);
  });

  it('a log level pino does not know, and a short metrics token, are refused naming the variable', () => {
    expect(configError(() => loadConfig({ OAUTH2_LOG_LEVEL: 'verbose' })).message).to.match(/OAUTH2_LOG_LEVEL.*fatal, error, warn, info, debug, trace, silent/);
    expect(configError(() => loadConfig({ OAUTH2_METRICS_TOKEN: 'short' })).message).to.match(/OAUTH2_METRICS_TOKEN.*16 or more/);
    expect(configError(() => loadConfig({ OAUTH2_TRUST_REQUEST_ID: 'maybe' })).message).to.match(/OAUTH2_TRUST_REQUEST_ID/);
  });

  it('OAUTH2_POLL_INTERVAL=abc is refused naming the variable', () => {
    const err = configError(() => loadConfig({ OAUTH2_POLL_INTERVAL: 'abc' }));
    expect(err.message).to.include('OAUTH2_POLL_INTERVAL');
    expect(err.message).to.include('"abc"');
  });

  it('a number with a unit or a sign is not a whole number (PORT=80s, OAUTH2_ACCESS_TOKEN_TTL=-5)', () => {
    expect(configError(() => loadConfig({ PORT: '80s' })).message).to.include('PORT');
    expect(configError(() => loadConfig({ OAUTH2_ACCESS_TOKEN_TTL: '-5' })).message).to.include('OAUTH2_ACCESS_TOKEN_TTL');
  });

  it('OAUTH2_DEVICE_CODE_TTL=0 is refused naming the variable', () => {
    const err = configError(() => loadConfig({ OAUTH2_DEVICE_CODE_TTL: '0' }));
    expect(err.message).to.include('OAUTH2_DEVICE_CODE_TTL');
  });

  it('PORT above 65535 is refused naming the variable', () => {
    expect(configError(() => loadConfig({ PORT: '65536' })).message).to.include('PORT');
  });

  it('RFC 8414 §2: OAUTH2_ISSUER=not-a-url is refused naming the variable', () => {
    const err = configError(() => loadConfig({ OAUTH2_ISSUER: 'not-a-url' }));
    expect(err.message).to.include('OAUTH2_ISSUER');
  });

  it('RFC 8414 §2: an issuer with a query is refused naming OAUTH2_ISSUER', () => {
    const err = configError(() => loadConfig({ OAUTH2_ISSUER: 'https://auth.example.test/?tenant=1' }));
    expect(err.message).to.include('OAUTH2_ISSUER');
    expect(err.message).to.include('query');
  });

  it('RFC 8414 §2: an issuer with a fragment is refused naming OAUTH2_ISSUER', () => {
    expect(configError(() => loadConfig({ OAUTH2_ISSUER: 'https://auth.example.test/#top' })).message).to.include('OAUTH2_ISSUER');
  });

  it('RFC 8414 §2: an issuer that is not http(s) is refused naming OAUTH2_ISSUER', () => {
    expect(configError(() => loadConfig({ OAUTH2_ISSUER: 'ftp://auth.example.test' })).message).to.include('OAUTH2_ISSUER');
  });

  it('RFC 8628 §3.2: a poll interval as long as the device code lifetime is refused naming OAUTH2_POLL_INTERVAL', () => {
    const err = configError(() => loadConfig({ OAUTH2_DEVICE_CODE_TTL: '60', OAUTH2_POLL_INTERVAL: '60' }));
    expect(err.message).to.include('OAUTH2_POLL_INTERVAL');
    expect(() => loadConfig({ OAUTH2_POLL_INTERVAL: '900' })).to.throw(ConfigError, 'OAUTH2_POLL_INTERVAL');
    expect(loadConfig({ OAUTH2_DEVICE_CODE_TTL: '60', OAUTH2_POLL_INTERVAL: '59' }).pollInterval).to.equal(59);
  });

  it('RFC 8628 §5.1: OAUTH2_USER_CODE_LENGTH=4 with the default alphabet is refused naming the variable', () => {
    const err = configError(() => loadConfig({ OAUTH2_USER_CODE_LENGTH: '4' }));
    expect(err.message).to.include('OAUTH2_USER_CODE_LENGTH');
  });

  it('RFC 8628 §5.1: settings that give one attacker more than a 2^-32 chance at a live code are refused', () => {
    // 7 of 20 characters: 30.3 bits; 5 guesses in a lifetime leave 2^-27.9.
    const err = configError(() => loadConfig({ OAUTH2_USER_CODE_LENGTH: '7' }));
    expect(err.message).to.include('30.3 bits');
    expect(err.message).to.include('2^-27.9');
    expect(err.message).to.include('OAUTH2_USER_CODE_LENGTH');
    expect(err.message).to.include('OAUTH2_USER_CODE_ALPHABET');
    expect(err.message).to.include('OAUTH2_GUESS_CEILING_BITS');
    // The defaults: 8 of 20 characters (34.6 bits) and 5 guesses leave 2^-32.3: allowed ...
    expect(loadConfig({}).userCodeLength).to.equal(8);
    // ... but 10 guesses per lockout would leave 2^-31.3: refused ...
    expect(configError(() => loadConfig({ OAUTH2_USER_CODE_MAX_FAILURES: '10' })).message).to.include('OAUTH2_USER_CODE_MAX_FAILURES');
    // ... as is a lockout shorter than the code's life, which lets an attacker come back.
    expect(() => loadConfig({ OAUTH2_USER_CODE_LOCKOUT: '300' })).to.throw(ConfigError, '2^-30.3');
    // A lower ceiling or a longer code makes room again.
    expect(loadConfig({ OAUTH2_USER_CODE_LENGTH: '7', OAUTH2_GUESS_CEILING_BITS: '27' }).userCodeLength).to.equal(7);
    expect(loadConfig({ OAUTH2_USER_CODE_LENGTH: '9', OAUTH2_USER_CODE_MAX_FAILURES: '20' }).userCodeMaxFailures).to.equal(20);
  });

  it('OAUTH2_USER_CODE_ALPHABET must be distinct upper-case letters and digits, named in the error', () => {
    expect(configError(() => loadConfig({ OAUTH2_USER_CODE_ALPHABET: 'bcdfghjklmnp' })).message).to.include('OAUTH2_USER_CODE_ALPHABET');
    expect(configError(() => loadConfig({ OAUTH2_USER_CODE_ALPHABET: 'BBCDFGHJKLMN' })).message).to.include('OAUTH2_USER_CODE_ALPHABET');
    expect(configError(() => loadConfig({ OAUTH2_USER_CODE_ALPHABET: 'BCDFG' })).message).to.include('OAUTH2_USER_CODE_ALPHABET');
  });

  it('OAUTH2_ERROR_URI that is not an absolute URL is refused naming the variable', () => {
    const err = configError(() => loadConfig({ OAUTH2_ERROR_URI: 'see the docs' }));
    expect(err.message).to.include('OAUTH2_ERROR_URI');
  });

  it('RFC 6749 §3.3: OAUTH2_SCOPES with an invalid scope name is refused naming the variable', () => {
    expect(configError(() => loadConfig({ OAUTH2_SCOPES: 'bad"scope=Quoted' })).message).to.include('OAUTH2_SCOPES');
  });

  it('OAUTH2_TRUST_PROXY that is not a boolean is refused naming the variable', () => {
    expect(configError(() => loadConfig({ OAUTH2_TRUST_PROXY: 'maybe' })).message).to.include('OAUTH2_TRUST_PROXY');
  });

  it('README.md documents every environment variable of the settings table', function () {
    const readme = resolve(__dirname, '..', '..', 'README.md');
    if (!existsSync(readme)) this.skip(); // the README is not written yet
    const text = readFileSync(readme, 'utf8');
    const missing = Object.values(settings)
      .map((s) => s.env)
      .filter((env) => !text.includes(env));
    expect(missing, 'environment variables missing from README.md').to.deep.equal([]);
  });
});

forEachDatabase('options for createApp (resolveOptions)', (db) => {
  const base = () => ({ issuer: 'https://auth.example.test', store: db.store as Store, secretKeys: TEST_SECRET_KEYS });

  it('fills in the documented defaults', () => {
    const resolved = resolveOptions(base());
    expect(resolved.deviceCodeLifetime).to.equal(900);
    expect(resolved.pollInterval).to.equal(5);
    expect(resolved.accessTokenLifetime).to.equal(3600);
    expect(resolved.sessionLifetime).to.equal(28800);
    expect(resolved.bodyLimit).to.equal(16384);
    expect(resolved.userCode).to.deep.equal({ length: 8, alphabet: USER_CODE_ALPHABET_RFC8628 });
    expect(resolved.errorUri).to.equal(undefined);
    expect(resolved.trustProxy).to.equal(false);
  });

  it('refuses a secret key shorter than 32 characters, naming OAUTH2_SECRET_KEYS', () => {
    const err = configError(() => resolveOptions({ ...base(), secretKeys: ['x'.repeat(31)] }));
    expect(err.message).to.include('OAUTH2_SECRET_KEYS');
    expect(err.message).to.include('32');
    expect(resolveOptions({ ...base(), secretKeys: ['x'.repeat(32)] }).secretKeys).to.deep.equal(['x'.repeat(32)]);
  });

  it('refuses a short key anywhere in the list, and an empty list', () => {
    expect(configError(() => resolveOptions({ ...base(), secretKeys: [...TEST_SECRET_KEYS, 'short'] })).message).to.include('key 2');
    expect(configError(() => resolveOptions({ ...base(), secretKeys: [] })).message).to.include('OAUTH2_SECRET_KEYS');
  });

  it('adminTokens: none by default (the admin API is off); a short one is refused naming OAUTH2_ADMIN_TOKENS', () => {
    expect(resolveOptions(base()).adminTokens).to.deep.equal([]);
    const err = configError(() => resolveOptions({ ...base(), adminTokens: ['x'.repeat(31)] }));
    expect(err.message).to.include('OAUTH2_ADMIN_TOKENS');
    expect(resolveOptions({ ...base(), adminTokens: ['x'.repeat(32)] }).adminTokens).to.deep.equal(['x'.repeat(32)]);
  });

  it('refuses a missing store', () => {
    const err = configError(() => resolveOptions({ ...base(), store: undefined as unknown as Store }));
    expect(err.message).to.include('store');
  });

  it('refuses a poll interval not shorter than the device code lifetime', () => {
    const err = configError(() => resolveOptions({ ...base(), deviceCodeLifetime: 60, pollInterval: 60 }));
    expect(err.message).to.include('pollInterval');
  });

  it('RFC 8414 §2: refuses an issuer with a query', () => {
    expect(configError(() => resolveOptions({ ...base(), issuer: 'https://auth.example.test?x=1' })).message).to.include('issuer');
  });

  describe('OAUTH2_ERROR_URI set', () => {
    const ERROR_URI = 'https://docs.example.test/oauth-errors';
    let server: Awaited<ReturnType<typeof startServer>>;
    before(async () => {
      server = await startServer(db.store, { errorUri: ERROR_URI });
    });
    after(async () => server.close());

    it('RFC 6749 §5.2: a 400 error response of the token endpoint carries error_uri', async () => {
      const client = await makePublicClient(db.store);
      const reply = await server.call('POST', '/oauth/token', { form: { grant_type: 'password', client_id: client.id } });
      expect(reply.status).to.equal(400);
      expect(reply.json.error).to.equal('unsupported_grant_type');
      expect(reply.json.error_uri).to.equal(ERROR_URI);
    });

    it('RFC 6749 §5.2: a device code error (invalid_grant) carries error_uri', async () => {
      const client = await makePublicClient(db.store);
      const reply = await server.call('POST', '/oauth/token', { form: { grant_type: DEVICE_GRANT, client_id: client.id, device_code: 'nope' } });
      expect(reply.status).to.equal(400);
      expect(reply.json.error).to.equal('invalid_grant');
      expect(reply.json.error_uri).to.equal(ERROR_URI);
    });

    it('RFC 6750 §3: a resource error (401 at /api/me) carries error_uri', async () => {
      const reply = await server.call('GET', '/api/me', { headers: { authorization: 'Bearer unknown-token' } });
      expect(reply.status).to.equal(401);
      expect(reply.json.error_uri).to.equal(ERROR_URI);
    });

    it('without errorUri, error responses have no error_uri', async () => {
      const plain = await startServer(db.store);
      try {
        const reply = await plain.call('POST', '/oauth/token', { form: { grant_type: 'password' } });
        expect(reply.status).to.equal(400);
        expect(reply.json).not.to.have.property('error_uri');
      } finally {
        await plain.close();
      }
    });
  });
});
