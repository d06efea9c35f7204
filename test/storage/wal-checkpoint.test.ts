/**
 * SQLite checkpoints: a worker thread copies the WAL's pages into the database file without any
 * request doing it; under steady group commits it holds them once the WAL reaches its restart
 * length until it has copied every page, so that the WAL restarts without the event loop ever
 * checkpointing; and for other writes the server's connection checkpoints what is left at
 * COMMIT_CHECKPOINT_PAGES.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { migrateToLatest, openDatabase, parseDatabaseUrl, walCheckpointerOf } from '../../src/storage/database';
import { KnexStore } from '../../src/storage/knex-store';
import Database from 'better-sqlite3';
import { COMMIT_CHECKPOINT_PAGES, startWalCheckpointer } from '../../src/storage/sqlite-checkpointer';
import { walLengthReader } from '../../bench/wal-index';
import { GroupCommit } from '../../src/storage/sqlite-group-commit';

const PAGE_BYTES = 4096;
/** One commit of `rows` rows of about one page each. */
const fill = (knex: Knex, rows: number) => knex('filler').insert(Array.from({ length: rows }, () => ({ x: 'f'.repeat(4000) })));
const size = (file: string) => {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
};

describe('[sqlite] WAL checkpoints', () => {
  let dir: string;
  let file: string;
  let knex: Knex;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'o2d-wal-'));
    file = join(dir, 'wal.sqlite');
    knex = openDatabase(parseDatabaseUrl(`sqlite:${file}`));
    await migrateToLatest(knex);
    await knex.raw('CREATE TABLE filler (x TEXT)');
  });

  afterEach(async () => {
    await knex.destroy(); // also stops the checkpointer thread, or mocha would not exit cleanly
    rmSync(dir, { recursive: true, force: true });
  });

  it('the worker thread copies committed pages into the database file though no commit reached the threshold', async function () {
    this.timeout(30_000);
    const [{ wal_autocheckpoint: threshold }] = await knex.raw('PRAGMA wal_autocheckpoint');
    expect(threshold).to.equal(COMMIT_CHECKPOINT_PAGES);
    const before = size(file);
    // About 600 pages in 12 commits: below the connection's own threshold (COMMIT_CHECKPOINT_PAGES).
    expect(600).to.be.below(COMMIT_CHECKPOINT_PAGES);
    for (let i = 0; i < 12; i++) await fill(knex, 50);
    const deadline = Date.now() + 15_000;
    while (size(file) <= before + 1_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(size(file)).to.be.greaterThan(before + 1_000_000);
  });

  it('each group commit of the hot writes is counted once for the WAL checkpointer thread', async () => {
    const store = new KnexStore(knex);
    await store.saveClient(
      { id: 'wal-client', name: 'WAL', type: 'public', secretHash: null, allowedScopes: ['profile'], defaultScopes: ['profile'], grantTypes: ['x'], canIntrospect: false, accessTokenLifetime: null, refreshTokenLifetime: null },
      1_800_000_000_000,
    );
    const checkpointer = walCheckpointerOf(knex)!;
    expect(checkpointer).to.not.equal(undefined);
    const before = checkpointer.counted;
    const flow = (n: number) => ({
      id: `wal-${n}`, deviceCodeHash: `dc-wal-${n}`.padEnd(64, '0'), userCodeHash: `uc-wal-${n}`.padEnd(64, '0'), clientId: 'wal-client',
      scopes: ['profile'], createdAt: 1_800_000_000_000, expiresAt: 1_800_000_600_000, pollInterval: 5, requestIp: null, userAgent: null,
    });
    // Three flows in one event-loop turn are one batch, one commit; a fourth later is another.
    await Promise.all([1, 2, 3].map((n) => store.createDeviceAuthorization(flow(n))));
    expect(checkpointer.counted - before).to.equal(1);
    await store.createDeviceAuthorization(flow(4));
    expect(checkpointer.counted - before).to.equal(2);
    expect(await knex('device_authorizations').whereIn('id', ['wal-1', 'wal-2', 'wal-3', 'wal-4']).count({ n: '*' })).to.deep.equal([{ n: 4 }]);
  });

  it('writes outside the group commit: the connection checkpoints at its threshold and the WAL restarts instead of growing (eight thresholds written)', async function () {
    this.timeout(120_000);
    // The server's threshold is COMMIT_CHECKPOINT_PAGES (128 MiB of WAL); the same mechanism
    // at a tenth of its size keeps the test short.
    const threshold = COMMIT_CHECKPOINT_PAGES / 80;
    await knex.raw(`PRAGMA wal_autocheckpoint = ${threshold}`);
    let largestWal = 0;
    // Commits of 10 pages through Knex, back to back: a PASSIVE checkpoint alone never catches up.
    const commits = Math.ceil((8 * threshold) / 10);
    for (let i = 0; i < commits; i++) {
      await fill(knex, 10);
      largestWal = Math.max(largestWal, size(`${file}-wal`));
    }
    // The threshold, plus what is committed while the worker holds the checkpoint lock (a
    // commit that finds it busy skips its own checkpoint): a WAL that never restarted would
    // hold all eight thresholds written.
    expect(largestWal).to.be.below(4 * threshold * (PAGE_BYTES + 24) + 32);
    expect(size(file)).to.be.greaterThan(2 * threshold * PAGE_BYTES);
  });
});

describe('[sqlite] WAL restarts under steady group commits, held by the checkpointer thread', () => {
  const RESTART_PAGES = 500;
  /** 20 restart lengths written in batches of 10 pages, each batch issued as the one before commits. */
  const PAGES_WRITTEN = 20 * RESTART_PAGES;
  let dir: string;
  let file: string;
  let db: Database.Database;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'o2d-wal-hold-'));
    file = join(dir, 'hold.sqlite');
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // The connection never checkpoints: only the worker's holds can make the WAL restart.
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE filler (x TEXT)');
  });

  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes PAGES_WRITTEN pages through a group commit, batch after batch: how often the WAL restarted, and its longest length. */
  async function writeBackToBack(commits: GroupCommit): Promise<{ restarts: number; longest: number }> {
    const insert = db.prepare('INSERT INTO filler (x) VALUES (?)');
    const wal = walLengthReader(file);
    let restarts = 0;
    let longest = 0;
    let last = wal.frames();
    try {
      for (let i = 0; i < PAGES_WRITTEN / 10; i++) {
        await Promise.all(Array.from({ length: 10 }, () => commits.run(() => insert.run('f'.repeat(4000)), () => Promise.reject(new Error('fallback')))));
        const now = wal.frames();
        if (now < last) restarts++;
        longest = Math.max(longest, now);
        last = now;
      }
    } finally {
      wal.close();
    }
    return { restarts, longest };
  }

  const start = async () => {
    const checkpointer = startWalCheckpointer(file, { intervalMs: 1, idleIntervalMs: 1, restartPages: RESTART_PAGES });
    await checkpointer.ready;
    return checkpointer;
  };

  it('with the checkpointer as the gate, it holds the group commits and the WAL restarts, though the connection never checkpoints', async function () {
    this.timeout(60_000);
    const checkpointer = await start();
    try {
      const { restarts, longest } = await writeBackToBack(new GroupCommit(db, () => true, checkpointer));
      expect(checkpointer.holds, 'holds').to.be.greaterThan(0);
      expect(restarts, 'WAL restarts').to.be.greaterThan(0);
      expect(longest, 'longest WAL').to.be.below(PAGES_WRITTEN / 2);
      expect(checkpointer.counted).to.equal(PAGES_WRITTEN / 10);
    } finally {
      await checkpointer.stop();
    }
    expect(db.prepare('SELECT count(*) AS n FROM filler').get()).to.deep.equal({ n: PAGES_WRITTEN });
  });

  it('without the gate the same writes never restart the WAL: the worker alone never catches up', async function () {
    this.timeout(60_000);
    const checkpointer = await start();
    try {
      const { restarts, longest } = await writeBackToBack(new GroupCommit(db, () => true));
      expect(restarts, 'WAL restarts').to.equal(0);
      expect(longest, 'longest WAL').to.be.at.least(PAGES_WRITTEN);
    } finally {
      await checkpointer.stop();
    }
  });
});
