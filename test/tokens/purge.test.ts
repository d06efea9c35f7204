import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { expect } from 'chai';
import { PURGE_GRACE_SECONDS, purgeExpired, startPurgeJob } from '../../src/purge';
import type { ClientRecord, UserRecord } from '../../src/storage/store';
import { forEachDatabase } from '../support/databases';
import { serverEnv } from '../support/process';
import { makePublicClient, makeUser } from '../support/server';

const ROOT = resolve(__dirname, '..', '..');
const NOW = Date.UTC(2026, 10, 27, 12, 0, 0);
const GRACE = PURGE_GRACE_SECONDS * 1000;
/** Expiry times relative to `now`. */
const at = (now: number) => ({
  live: now + 3600_000,
  /** Expired a minute ago: inside the grace period. */
  recent: now - 60_000,
  /** Expired exactly the grace period ago: not "more than", so it stays. */
  boundary: now - GRACE,
  /** Expired a second more than the grace period ago: goes. */
  old: now - GRACE - 1000,
});
const T = at(NOW);

forEachDatabase('purging expired rows (src/purge.ts)', (db) => {
  let client: ClientRecord;
  let user: UserRecord;

  before(async () => {
    client = await makePublicClient(db.store);
    user = await makeUser(db.store);
  });
  beforeEach(async () => {
    for (const table of ['refresh_tokens', 'access_tokens', 'device_authorizations', 'sessions', 'attempt_counters']) await db.knex(table).delete();
  });

  /** Stands in for a SHA-256 hash: unique, and at most 64 characters. */
  const hash = (label: string) => label.slice(0, 64);

  async function authorization(id: string, expiresAt: number, status: 'pending' | 'approved' | 'denied' | 'consumed' = 'pending'): Promise<void> {
    const decided = status !== 'pending';
    await db.knex('device_authorizations').insert({
      id,
      device_code_hash: hash(`dc-${id}`),
      user_code_hash: hash(`uc-${id}`),
      client_id: client.id,
      scope: 'profile',
      status,
      user_id: decided ? user.id : null,
      created_at: expiresAt - 900_000,
      expires_at: expiresAt,
      poll_interval: 5,
      last_polled_at: null,
      decided_at: decided ? expiresAt - 800_000 : null,
      request_ip: null,
      user_agent: null,
    });
  }

  async function accessToken(id: string, expiresAt: number, grantId: string | null, revokedAt: number | null = null): Promise<void> {
    await db.knex('access_tokens').insert({
      id,
      token_hash: hash(`at-${id}`),
      client_id: client.id,
      user_id: user.id,
      scope: 'profile',
      device_authorization_id: grantId,
      created_at: expiresAt - 3600_000,
      expires_at: expiresAt,
      revoked_at: revokedAt,
    });
  }

  async function refreshToken(id: string, expiresAt: number, grantId: string, rotatedAt: number | null = null): Promise<void> {
    await db.knex('refresh_tokens').insert({
      id,
      token_hash: hash(`rt-${id}`),
      client_id: client.id,
      user_id: user.id,
      scope: 'profile',
      device_authorization_id: grantId,
      created_at: expiresAt - 30 * 86400_000,
      expires_at: expiresAt,
      rotated_at: rotatedAt,
      revoked_at: null,
    });
  }

  async function session(id: string, expiresAt: number): Promise<void> {
    await db.knex('sessions').insert({ id_hash: hash(id), user_id: user.id, created_at: expiresAt - 8 * 3600_000, expires_at: expiresAt });
  }

  const ids = async (table: string, key = 'id'): Promise<string[]> => (await db.knex(table).select(key)).map((r: Record<string, unknown>) => String(r[key])).sort();
  const sessionIds = (): Promise<string[]> => ids('sessions', 'id_hash');

  it('removes exactly what expired more than PURGE_GRACE_SECONDS ago, and keeps approvals that still have tokens', async () => {
    // Device authorizations nobody used.
    await authorization('da-live', T.live);
    await authorization('da-recent', T.recent);
    await authorization('da-boundary', T.boundary);
    await authorization('da-old', T.old);
    await authorization('da-denied-old', T.old, 'denied');
    await authorization('da-approved-old', T.old, 'approved');
    // Consumed (exchanged) authorizations, long expired as codes, and their tokens.
    await authorization('da-consumed-live-refresh', T.old, 'consumed');
    await refreshToken('rt-live', T.live, 'da-consumed-live-refresh');
    await refreshToken('rt-old-rotated', T.old, 'da-consumed-live-refresh', T.old - 1000);
    await accessToken('at-old-of-live-refresh', T.old, 'da-consumed-live-refresh');
    await authorization('da-consumed-live-access', T.old, 'consumed');
    await accessToken('at-live', T.live, 'da-consumed-live-access');
    await authorization('da-consumed-recent-refresh', T.old, 'consumed');
    await refreshToken('rt-recent', T.recent, 'da-consumed-recent-refresh');
    await authorization('da-consumed-all-old', T.old, 'consumed');
    await accessToken('at-old-of-all-old', T.old, 'da-consumed-all-old');
    await refreshToken('rt-old-of-all-old', T.old, 'da-consumed-all-old');
    // Access tokens without an approval, and one revoked but not yet expired.
    await accessToken('at-recent', T.recent, null);
    await accessToken('at-boundary', T.boundary, null);
    await accessToken('at-old', T.old, null);
    await accessToken('at-revoked-live', T.live, null, NOW - 10_000);
    // Sessions.
    await session('slive', T.live);
    await session('srecent', T.recent);
    await session('sboundary', T.boundary);
    await session('sold', T.old);

    const counts = await purgeExpired(db.store, NOW);
    expect(counts).to.deep.equal({ deviceAuthorizations: 4, accessTokens: 3, refreshTokens: 2, sessions: 1, attemptCounters: 0 });

    expect(await ids('device_authorizations')).to.deep.equal(
      ['da-boundary', 'da-consumed-live-access', 'da-consumed-live-refresh', 'da-consumed-recent-refresh', 'da-live', 'da-recent'].sort(),
    );
    expect(await ids('access_tokens')).to.deep.equal(['at-boundary', 'at-live', 'at-recent', 'at-revoked-live']);
    expect(await ids('refresh_tokens')).to.deep.equal(['rt-live', 'rt-recent']);
    expect(await sessionIds()).to.deep.equal(['sboundary', 'slive', 'srecent']);

    // The live tokens still point at their approval, so revoking the approval still reaches them.
    expect((await db.knex('access_tokens').where({ id: 'at-live' }).first()).device_authorization_id).to.equal('da-consumed-live-access');
    expect((await db.knex('refresh_tokens').where({ id: 'rt-live' }).first()).device_authorization_id).to.equal('da-consumed-live-refresh');

    // A second run at the same time finds nothing more.
    expect(await purgeExpired(db.store, NOW)).to.deep.equal({ deviceAuthorizations: 0, accessTokens: 0, refreshTokens: 0, sessions: 0, attemptCounters: 0 });
  });

  it('the grace period moves with now: an hour later the rows that were inside it go', async () => {
    await authorization('da-recent', T.recent);
    await accessToken('at-recent', T.recent, null);
    await session('srecent', T.recent);
    await authorization('da-live', T.live);
    expect(await purgeExpired(db.store, NOW)).to.deep.equal({ deviceAuthorizations: 0, accessTokens: 0, refreshTokens: 0, sessions: 0, attemptCounters: 0 });
    const later = NOW + GRACE;
    expect(await purgeExpired(db.store, later)).to.deep.equal({ deviceAuthorizations: 1, accessTokens: 1, refreshTokens: 0, sessions: 1, attemptCounters: 0 });
    expect(await ids('device_authorizations')).to.deep.equal(['da-live']);
  });

  it('in batches: with batchSize 2, one call still removes all 5 expired rows of every kind', async () => {
    for (let i = 1; i <= 5; i++) {
      await authorization(`da-unused-${i}`, T.old);
      await authorization(`da-used-${i}`, T.old, 'consumed');
      await accessToken(`at-old-${i}`, T.old, `da-used-${i}`);
      await refreshToken(`rt-old-${i}`, T.old, `da-used-${i}`);
      await session(`sold${i}`, T.old);
    }
    await authorization('da-live', T.live);
    await authorization('da-kept', T.old, 'consumed');
    await accessToken('at-live', T.live, 'da-kept');
    await refreshToken('rt-live', T.live, 'da-kept');
    await session('slive', T.live);

    const counts = await purgeExpired(db.store, NOW, 2);
    expect(counts).to.deep.equal({ deviceAuthorizations: 10, accessTokens: 5, refreshTokens: 5, sessions: 5, attemptCounters: 0 });
    expect(await ids('device_authorizations')).to.deep.equal(['da-kept', 'da-live']);
    expect(await ids('access_tokens')).to.deep.equal(['at-live']);
    expect(await ids('refresh_tokens')).to.deep.equal(['rt-live']);
    expect(await sessionIds()).to.deep.equal(['slive']);
  });

  it('in batches: only one kind with more rows than the batch is still removed entirely', async () => {
    for (let i = 1; i <= 5; i++) await session(`sold${i}`, T.old);
    await accessToken('at-old', T.old, null);
    expect(await purgeExpired(db.store, NOW, 2)).to.deep.equal({ deviceAuthorizations: 0, accessTokens: 1, refreshTokens: 0, sessions: 5, attemptCounters: 0 });
    expect(await ids('sessions', 'id_hash')).to.deep.equal([]);
  });

  it("`npm run purge` (src/cli/purge.ts) purges the DATABASE_URL database, prints 'purged:' and exits 0", async function () {
    this.timeout(60_000);
    const R = at(Date.now()); // the command uses the real clock
    await accessToken('at-old', R.old, null);
    await accessToken('at-live', R.live, null);
    await session('sold', R.old);
    await session('slive', R.live);
    await authorization('da-old', R.old);

    const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = execFile(tsx, ['src/cli/purge.ts'], { cwd: ROOT, env: serverEnv({ DATABASE_URL: db.url }), timeout: 45_000 }, (_err, out, err) =>
        done({ code: child.exitCode, stdout: String(out), stderr: String(err) }),
      );
    });
    expect(code, `stdout: ${stdout}\nstderr: ${stderr}`).to.equal(0);
    expect(stdout).to.match(/^purged: /m);
    expect(stdout).to.contain('1 deviceAuthorizations');
    expect(stdout).to.contain('1 accessTokens');
    expect(stdout).to.contain('0 refreshTokens');
    expect(stdout).to.contain('1 sessions');
    expect(await ids('access_tokens')).to.deep.equal(['at-live']);
    expect(await sessionIds()).to.deep.equal(['slive']);
    expect(await ids('device_authorizations')).to.deep.equal([]);
  });

  /** Polls `check` every 100 ms of real time until it is true or `ms` have passed. */
  async function within(ms: number, check: () => Promise<boolean>): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (await check()) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('startPurgeJob(store, 1 s) removes an expired row within ~3 s of real time, and stop() stops it', async function () {
    this.timeout(20_000);
    const errors: unknown[] = [];
    await session('sold', T.old);
    await session('slive', T.live);
    const job = startPurgeJob(db.store, 1, () => NOW, (err) => errors.push(err));
    try {
      const gone = await within(3000, async () => (await db.knex('sessions').where('expires_at', '<', NOW)).length === 0);
      expect(gone, 'the expired session was purged within 3 s').to.equal(true);
      expect(await sessionIds()).to.deep.equal(['slive']);
    } finally {
      job.stop();
    }
    // Stopped: a new expired row stays through more than two intervals.
    await session('sold2', T.old);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await sessionIds()).to.deep.equal(['slive', 'sold2']);
    expect(errors).to.deep.equal([]);
  });

  it('startPurgeJob with interval 0 starts nothing', async function () {
    this.timeout(10_000);
    await session('sold', T.old);
    const job = startPurgeJob(db.store, 0, () => NOW, (err) => {
      throw err;
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect(await sessionIds()).to.deep.equal(['sold']);
    } finally {
      job.stop();
    }
  });
});
