/**
 * The scenarios of the benchmark, as request mixes over the seeded dataset (bench/dataset.ts).
 * Every request is a real one: client authentication, validation against openapi.yaml,
 * SHA-256 of the secret, the database lookups and, for polls, the database write.
 */
import {
  BENCH_CLIENT,
  BENCH_RESOURCE_SERVER,
  BENCH_RESOURCE_SERVER_SECRET,
  BENCH_USER,
  DEVICE_CODE_GRANT,
  RANGES,
  accessTokenTemplate,
  deviceCodeTemplate,
  type DatasetSize,
} from './dataset';
import type { RequestKind, Scenario } from './load';

export const SCENARIO_NAMES = ['device_authorization', 'poll_pending', 'poll_slow_down', 'resource', 'introspection', 'mixed'] as const;
export type ScenarioName = (typeof SCENARIO_NAMES)[number];

export const HELLO: Scenario = { name: 'hello', kinds: [{ method: 'GET', path: '/', weight: 1, start: 0, count: 1 }], accept: ['200 '] };

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const grant = encodeURIComponent(DEVICE_CODE_GRANT);
const basic = `Basic ${Buffer.from(`${BENCH_RESOURCE_SERVER}:${BENCH_RESOURCE_SERVER_SECRET}`).toString('base64')}`;

const deviceAuthorization = (weight: number): RequestKind => ({
  method: 'POST',
  path: '/oauth/device_authorization',
  headers: { ...FORM, 'User-Agent': 'bench-device/1.0' },
  body: `client_id=${BENCH_CLIENT}&scope=profile+email`,
  weight,
  start: 0,
  count: 1,
});

const poll = (weight: number, start: number, count: number, once = false): RequestKind => ({
  method: 'POST',
  path: '/oauth/token',
  headers: FORM,
  body: `grant_type=${grant}&client_id=${BENCH_CLIENT}&device_code=${deviceCodeTemplate}`,
  weight,
  start,
  count,
  once,
});

const resource = (weight: number, size: DatasetSize): RequestKind => ({
  method: 'GET',
  path: '/api/me',
  headers: { Authorization: `Bearer ${accessTokenTemplate}` },
  weight,
  start: RANGES.token,
  count: size.tokens,
});

const introspection = (weight: number, size: DatasetSize): RequestKind => ({
  method: 'POST',
  path: '/oauth/introspect',
  headers: { ...FORM, Authorization: basic },
  body: `token=${accessTokenTemplate}&token_type_hint=access_token`,
  weight,
  start: RANGES.token,
  count: size.tokens,
});

/**
 * `run` numbers the runs of one scenario on one server (warm-up 0, then 1, 2 ...): the mixed
 * load exchanges a fresh slice of approved codes in each, `runs` in all.
 */
export function scenario(name: ScenarioName, size: DatasetSize, run: number, runs: number): Scenario {
  switch (name) {
    case 'device_authorization':
      return { name, kinds: [deviceAuthorization(1)], accept: ['200 '] };
    case 'poll_pending':
      // Round-robin over every pending code: each is polled again only after all the others.
      return { name, kinds: [poll(1, RANGES.pending, size.pending)], accept: ['400 authorization_pending'] };
    case 'poll_slow_down':
      return { name, kinds: [poll(1, RANGES.slow, size.slow)], accept: ['400 slow_down'] };
    case 'resource':
      return { name, kinds: [resource(1, size)], accept: ['200 '] };
    case 'introspection':
      return { name, kinds: [introspection(1, size)], accept: ['200 '], okBody: '"active":true' };
    case 'mixed': {
      // Many devices polling, people coming back to their approved devices (each code
      // exchanged once for tokens), resource calls, a few new devices and introspections.
      const slice = Math.floor(size.approved / runs);
      return {
        name,
        kinds: [
          poll(60, RANGES.pending, size.pending),
          resource(30, size),
          deviceAuthorization(4),
          introspection(4, size),
          poll(2, RANGES.approved + run * slice, slice, true),
        ],
        accept: ['200 ', '400 authorization_pending'],
      };
    }
  }
}

/** The scenarios the peer (bench/peer-oidc-provider.mjs) can answer: it has no slow_down (it writes nothing on a poll) and no exchange of seeded approvals, so no poll_slow_down and no mixed. */
export const PEER_SCENARIO_NAMES = ['device_authorization', 'poll_pending', 'resource', 'introspection'] as const satisfies readonly ScenarioName[];

/** What the peer is seeded with: the same secrets as this server's small dataset, passed as BENCH_PEER_DATASET. */
export function peerDataset(size: DatasetSize) {
  return {
    deviceClient: BENCH_CLIENT,
    resourceServer: BENCH_RESOURCE_SERVER,
    resourceServerSecret: BENCH_RESOURCE_SERVER_SECRET,
    user: BENCH_USER,
    deviceCodeTemplate,
    accessTokenTemplate,
    pending: { start: RANGES.pending, count: size.pending },
    tokens: { start: RANGES.token, count: size.tokens },
  };
}

/**
 * The same loads at the peer's paths (its defaults: /device/auth, /token, /token/introspection
 * and userinfo at /me), with the same secrets, headers and answers counted as success.
 */
export function peerScenario(name: ScenarioName, size: DatasetSize): Scenario | undefined {
  const at = (kind: RequestKind, path: string, body = kind.body): RequestKind => ({ ...kind, path, ...(body === undefined ? {} : { body }) });
  switch (name) {
    case 'device_authorization':
      return { name, kinds: [at(deviceAuthorization(1), '/device/auth', `client_id=${BENCH_CLIENT}&scope=openid+profile+email`)], accept: ['200 '] };
    case 'poll_pending':
      return { name, kinds: [at(poll(1, RANGES.pending, size.pending), '/token')], accept: ['400 authorization_pending'] };
    case 'resource':
      return { name, kinds: [at(resource(1, size), '/me')], accept: ['200 '] };
    case 'introspection':
      return { name, kinds: [at(introspection(1, size), '/token/introspection')], accept: ['200 '], okBody: '"active":true' };
    default:
      return undefined;
  }
}
