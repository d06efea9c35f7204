/**
 * Starts the real app on a real port (127.0.0.1, random) over a test database, with a clock
 * the test can move, so expiry and intervals are checked without sleeping.
 */
import type { AddressInfo } from 'node:net';
import { defaults } from '../../src/config/defaults';
import type { RequestListener } from 'node:http';
import { createHttpServer } from '../../src/http/http-server';
import { registerClient, registerUser, type NewClient, type NewUser } from '../../src/accounts';
import { createApp, type OAuth2DevicesServer } from '../../src/app';
import type { ServerOptions } from '../../src/options';
import type { Store } from '../../src/storage/store';
import { request, type Reply, type RequestOptions } from './http';
import { createLogger } from '../../src/logging';

/** Request lines would drown the test output; tests of the logs pass their own logger. */
export const SILENT_LOGGER = createLogger('silent');

export const TEST_SECRET_KEYS = ['test-key-0123456789abcdefghijklmnopqrstuvwxyz'];
/** An admin API token for servers that tests start with `adminTokens: [TEST_ADMIN_TOKEN]`. */
export const TEST_ADMIN_TOKEN = 'o2d_admin_test-0123456789abcdefghijklmnopqrstuvwxyz';

export class TestClock {
  constructor(public ms = Date.UTC(2026, 10, 27, 12, 0, 0)) {}
  now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export interface RunningServer {
  url: string;
  clock: TestClock;
  oauth: OAuth2DevicesServer;
  store: Store;
  call(method: string, path: string, options?: RequestOptions): Promise<Reply>;
  close(): Promise<void>;
}

/**
 * Every test talks from 127.0.0.1 on a clock that stands still, so the guessing limits would
 * carry over from test to test; tests of other rules get limits that never trigger. The limits
 * themselves are tested with the production defaults (test/activation/attempt-limits.test.ts).
 */
export const LAX_LIMITS: Partial<ServerOptions> = {
  userCodeMaxFailures: 1000,
  signInMaxFailures: 1000,
  attemptBackoff: 0,
  guessCeilingBits: 0,
};

export async function startServer(store: Store, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const clock = new TestClock();
  // The issuer names the port, so listen first and attach the app once the port is known.
  let handle: RequestListener = () => {};
  const http = createHttpServer((req, res) => handle(req, res), { requestTimeout: defaults.requestTimeout, maxHeaderBytes: defaults.maxHeaderBytes });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const oauth = await createApp({
    issuer: url,
    store,
    secretKeys: TEST_SECRET_KEYS,
    clock: clock.now,
    logError: (err) => console.error('[server error]', err),
    logger: SILENT_LOGGER,
    ...LAX_LIMITS,
    ...options,
  });
  handle = oauth.app.callback();
  return {
    url,
    clock,
    oauth,
    store,
    call: (method, path, opts) => request(url, method, path, opts),
    close: () => {
      http.closeAllConnections();
      return new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}

let unique = 0;
/** A name no other test in this run uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${++unique}`;
}

export async function makePublicClient(store: Store, overrides: Partial<NewClient> = {}) {
  const { client } = await registerClient(store, {
    id: uniqueName('tv'),
    name: 'Living Room TV',
    type: 'public',
    allowedScopes: ['profile', 'email'],
    defaultScopes: ['profile'],
    ...overrides,
  });
  return client;
}

export async function makeConfidentialClient(store: Store, overrides: Partial<NewClient> = {}) {
  const { client, secret } = await registerClient(store, {
    id: uniqueName('svc'),
    name: 'Build Server',
    type: 'confidential',
    allowedScopes: ['profile', 'email'],
    defaultScopes: ['profile'],
    ...overrides,
  });
  return { client, secret: secret! };
}

export const TEST_PASSWORD = 'correct horse battery staple';

export async function makeUser(store: Store, overrides: Partial<NewUser> = {}) {
  const username = overrides.username ?? uniqueName('user');
  return registerUser(store, { username, password: TEST_PASSWORD, name: `Person ${username}`, email: `${username}@example.test`, ...overrides });
}

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
