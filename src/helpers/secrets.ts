/**
 * Random secrets and their hashes. High-entropy secrets (device codes, tokens, client secrets,
 * session ids) are stored as SHA-256: with 256 random bits there is nothing to brute-force, and
 * a lookup by hash stays one indexed query. Passwords, chosen by people, get scrypt.
 */
import * as crypto from 'node:crypto';
import { createHash, createHmac, randomBytes, randomFillSync, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Prefixes make leaked credentials recognisable to secret scanners. */
export const PREFIX = {
  deviceCode: 'o2d_dc_',
  accessToken: 'o2d_at_',
  refreshToken: 'o2d_rt_',
  clientSecret: 'o2d_cs_',
} as const;

/**
 * Bytes from the system's CSPRNG, drawn 4 KiB at a time. Each call into it costs about 5 µs
 * here whatever its size (randomBytes(16): 5.0 µs, a 4 KiB fill: 4.9 µs), and a device
 * authorization or a token exchange needs two to four secrets; Node pools the same way for
 * randomUUID and randomInt. Each byte is handed out once and zeroed in the pool as it is.
 */
const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let poolOffset = POOL_BYTES;

function drawRandom(bytes: number, encoding: 'base64url' | 'hex'): string {
  if (bytes > POOL_BYTES) return randomBytes(bytes).toString(encoding);
  if (poolOffset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const start = poolOffset;
  poolOffset += bytes;
  const text = pool.toString(encoding, start, poolOffset);
  pool.fill(0, start, poolOffset);
  return text;
}

/** 32 random bytes, base64url, after an optional prefix: 256 bits (RFC 6749 §10.10 asks >= 128). */
export function randomSecret(prefix = '', bytes = 32): string {
  return prefix + drawRandom(bytes, 'base64url');
}

/** Milliseconds as 12 hex characters: text that sorts as the time does (until the year 10889). */
const timeHex = (now: number): string => now.toString(16).padStart(12, '0').slice(-12);

/**
 * A row id: 32 hex characters, the time in milliseconds (12) then 80 random bits (20). Time
 * first, so that a new row lands at the end of its primary-key index, not on a random page:
 * on SQLite every page an INSERT touches is 4 KiB more written to the WAL and checkpointed,
 * and InnoDB clusters rows by primary key. Ids name rows; they are not secrets (every handler
 * checks who may act on a row), and 80 random bits a millisecond keep them unique and
 * unguessable all the same.
 */
export function randomId(now = Date.now()): string {
  return timeHex(now) + drawRandom(10, 'hex');
}

/**
 * Node's one-shot `crypto.hash` (20.12+): no Hash object to build, 0.5-0.9 µs a token here
 * against 1.8-2.2 for createHash, and every poll, token check and introspection hashes one
 * or two secrets. Older Node 20 releases take createHash.
 */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

export function sha256(text: string): string {
  return oneShotHash ? oneShotHash('sha256', text, 'hex') : createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A secret that carries its issue time: the prefix, the time in ms (12 hex), 256 random bits. */
function newTimedSecret(prefix: string, now: number): string {
  return prefix + timeHex(now) + drawRandom(32, 'base64url');
}

/**
 * A device code: the prefix, the time in milliseconds (12 hex characters), then 32 random
 * bytes. The time is there for deviceCodeKey, not for the device: it is no secret (the
 * device asked for the code at that moment) and the 256 random bits alone make the code.
 */
export function newDeviceCode(now = Date.now()): string {
  return newTimedSecret(PREFIX.deviceCode, now);
}

/** An opaque access or refresh token, timed like a device code, for tokenKey. */
export function newTimedToken(prefix: typeof PREFIX.accessToken | typeof PREFIX.refreshToken, now = Date.now()): string {
  return newTimedSecret(prefix, now);
}

/**
 * The key of a secret that carries its time (one that `timed` matches): the time (12 hex
 * characters) and the first 52 of its SHA-256's 64, so that keys of later secrets sort after
 * earlier ones and fill the column's 64. Anything else (a secret issued before timed ones, a JWT, any other string a
 * client sends) is keyed by its whole SHA-256. 208 bits of SHA-256 of a 256-bit secret leave
 * nothing to find.
 */
function timedKey(timed: RegExp, secret: string): string {
  const match = timed.exec(secret);
  const hash = sha256(secret);
  return match ? match[1]! + hash.slice(0, 52) : hash;
}

const TIMED_DEVICE_CODE = new RegExp(`^${PREFIX.deviceCode}([0-9a-f]{12})[A-Za-z0-9_-]{43}$`);
const TIMED_TOKEN = new RegExp(`^(?:${PREFIX.accessToken}|${PREFIX.refreshToken})([0-9a-f]{12})[A-Za-z0-9_-]{43}$`);

/**
 * What a device code is stored and looked up by (device_code_hash). Each random key put into
 * a unique index writes one more page of it per insert (counted on SQLite's WAL: 3.20 pages a
 * device authorization with a random key, 1.77 without that index at all), and every page
 * written is written again at the next checkpoint; a time-led key lands at the index's end.
 */
export function deviceCodeKey(deviceCode: string): string {
  return timedKey(TIMED_DEVICE_CODE, deviceCode);
}

/**
 * What an access or refresh token is stored and looked up by (token_hash). Time-led for the
 * same reason as deviceCodeKey, and one more: the tokens in use are the recent ones, so with
 * time-led keys their lookups read the few index pages at the end, which stay in the page
 * cache, instead of pages spread over an index of every live token (measured in
 * bench/README.md, fourteenth session).
 */
export function tokenKey(token: string): string {
  return timedKey(TIMED_TOKEN, token);
}

export function hmacSha256(key: string, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** Compares two strings in time that depends only on their length. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

// scrypt with N=2^15, r=8, p=1: 32 MiB and some tens of ms per hash on this class of machine.
const SCRYPT = { N: 1 << 15, r: 8, p: 1, keylen: 32 };
const SCRYPT_MAXMEM = 128 * SCRYPT.N * SCRYPT.r * 2;

function scryptAsync(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFKC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$salt$hash`, so the parameters can be raised later without breaking old hashes. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT_MAXMEM });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const N = Number(n);
  const key = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, {
    N,
    r: Number(r),
    p: Number(p),
    maxmem: 128 * N * Number(r) * 2,
  });
  return timingSafeEqual(key, expected);
}

/** A hash of a password nobody has, to spend the same time when a username is unknown. */
let decoy: Promise<string> | undefined;
export function decoyPasswordHash(): Promise<string> {
  decoy ??= hashPassword(randomSecret());
  return decoy;
}
