/**
 * The benchmark's data: which clients, user, device codes and tokens exist, and how their
 * secrets are spelled. The seeder stores their hashes; the load scripts send the secrets. A
 * device code is its kind's prefix, filler and a 9-digit index, as long as a real one (50
 * characters), so hashing and parsing cost what they cost in production. It carries no time,
 * so its key is its whole SHA-256 (deviceCodeKey), the costlier case of a random key. An access
 * token is spelled as the server issues them (`timedTokens`, 62 characters): the prefix, 12
 * hex characters of "time", then 43 of filler. Its "time" is `000` and the 9-digit index
 * (decimal digits are hex digits), so the tokens' keys (tokenKey) sort by index as the
 * server's sort by the time they were issued.
 */
import { PREFIX } from '../src/helpers/secrets';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

export const BENCH_CLIENT = 'bench-tv';
export const BENCH_RESOURCE_SERVER = 'bench-rs';
export const BENCH_RESOURCE_SERVER_SECRET = `${PREFIX.clientSecret}bench-resource-server-secret-0000000000000`;
export const BENCH_USER = 'bench-user';
export const BENCH_SCOPES = ['profile', 'email', 'devices'];

/** Index ranges of each kind of row: disjoint, so one formula names every secret. */
export const RANGES = {
  /** Pending flows, polled round-robin (each no more often than its interval). */
  pending: 0,
  /** Pending flows whose interval has grown: every poll of them is slow_down. */
  slow: 100_000_000,
  /** Approved flows, each exchanged once by the mixed load. */
  approved: 200_000_000,
  /** Consumed flows, which the tokens belong to. */
  consumed: 300_000_000,
  /** Access tokens. */
  token: 0,
} as const;

const FILLER = 'benchBENCHbenchBENCHbenchBENCHbench'.slice(0, 34);

/** 43 characters in place of a timed token's 256 random bits (base64url). */
const TOKEN_FILLER = 'benchBENCHbenchBENCHbenchBENCHbenchBENCHben';

const pad = (index: number): string => String(index).padStart(9, '0');

/** The secret the server is sent; `{i}` in the Lua templates stands for the padded index. */
export const deviceCode = (index: number): string => `${PREFIX.deviceCode}${FILLER}${pad(index)}`;
export const accessToken = (index: number): string => `${PREFIX.accessToken}000${pad(index)}${TOKEN_FILLER}`;
export const deviceCodeTemplate = `${PREFIX.deviceCode}${FILLER}{i}`;
export const accessTokenTemplate = `${PREFIX.accessToken}000{i}${TOKEN_FILLER}`;

export interface DatasetSize {
  /** Pending flows polled by the poll scenario (and as many more as filler at scale). */
  pending: number;
  slow: number;
  /** Approved flows for the mixed load, across all its runs. */
  approved: number;
  /** Consumed flows that own the access tokens. */
  consumed: number;
  tokens: number;
}

/** The small tables: enough distinct codes for each to be polled at most once a second. */
export const SMALL: DatasetSize = { pending: 60_000, slow: 16, approved: 20_000, consumed: 2_000, tokens: 20_000 };

/** RFC-sized production tables: 1,000,000 live device flows and 10,000,000 access tokens. */
export const SCALE: DatasetSize = { pending: 1_000_000, slow: 16, approved: 20_000, consumed: 1_000_000, tokens: 10_000_000 };
