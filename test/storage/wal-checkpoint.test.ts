/**
 * SQLite checkpoints happen on a worker thread, not inside the commit of a request: the
 * server's connection keeps only a far-off automatic checkpoint, and the WAL's pages still
 * reach the database file, without any request doing it.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { migrateToLatest, openDatabase, parseDatabaseUrl } from '../../src/storage/database';
import { FALLBACK_AUTOCHECKPOINT_PAGES } from '../../src/storage/sqlite-checkpointer';

describe('[sqlite] WAL checkpoints off the event loop', () => {
  it('commits never checkpoint below the safety net, yet committed pages reach the database file', async function () {
    this.timeout(30_000);
    const dir = mkdtempSync(join(tmpdir(), 'o2d-wal-'));
    const file = join(dir, 'wal.sqlite');
    const knex = openDatabase(parseDatabaseUrl(`sqlite:${file}`));
    try {
      await migrateToLatest(knex);
      const [{ wal_autocheckpoint: threshold }] = await knex.raw('PRAGMA wal_autocheckpoint');
      expect(threshold).to.equal(FALLBACK_AUTOCHECKPOINT_PAGES);
      const before = statSync(file).size;
      // About 1,500 pages in 30 commits: past SQLite's default automatic checkpoint of 1,000.
      await knex.raw('CREATE TABLE filler (x TEXT)');
      for (let i = 0; i < 30; i++) await knex('filler').insert(Array.from({ length: 50 }, () => ({ x: 'f'.repeat(4000) })));
      // The checkpointer runs every second; wait (up to 15 s) for the file to take the pages.
      const deadline = Date.now() + 15_000;
      while (statSync(file).size <= before + 1_000_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(statSync(file).size).to.be.greaterThan(before + 1_000_000);
    } finally {
      await knex.destroy(); // also stops the checkpointer thread, or mocha would not exit cleanly
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
