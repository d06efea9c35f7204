/**
 * SQLite checkpoints: a worker thread copies the WAL's pages into the database file without any
 * request doing it, and the server's connection checkpoints what is left once the WAL reaches
 * COMMIT_CHECKPOINT_PAGES, so that the WAL restarts instead of growing under steady writes.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { migrateToLatest, openDatabase, parseDatabaseUrl, walCheckpointerOf } from '../../src/storage/database';
import { KnexStore } from '../../src/storage/knex-store';
import { COMMIT_CHECKPOINT_PAGES } from '../../src/storage/sqlite-checkpointer';

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

  it('under steady writes the WAL restarts at the threshold instead of growing (eight thresholds written)', async function () {
    this.timeout(120_000);
    let largestWal = 0;
    // Commits of 10 pages, back to back, eight times the threshold: a PASSIVE checkpoint alone never catches up.
    const commits = Math.ceil((8 * COMMIT_CHECKPOINT_PAGES) / 10);
    for (let i = 0; i < commits; i++) {
      await fill(knex, 10);
      largestWal = Math.max(largestWal, size(`${file}-wal`));
    }
    // The threshold, plus what is committed while the worker holds the checkpoint lock (a
    // commit that finds it busy skips its own checkpoint; measured here up to 1.5 thresholds):
    // a WAL that never restarted would hold all eight thresholds written.
    expect(largestWal).to.be.below(3 * COMMIT_CHECKPOINT_PAGES * (PAGE_BYTES + 24) + 32);
    expect(size(file)).to.be.greaterThan(2 * COMMIT_CHECKPOINT_PAGES * PAGE_BYTES);
  });
});
