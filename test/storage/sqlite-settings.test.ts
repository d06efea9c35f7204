/**
 * The settings of the server's SQLite connection (src/storage/database.ts): WAL, NORMAL sync,
 * foreign keys on, and a page cache of `sqliteCacheMb` (default 4 MB, not the 16 MB
 * better-sqlite3 builds SQLite with: that memory went to the young generation instead).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import type { Knex } from 'knex';
import { defaults } from '../../src/config/defaults';
import { openDatabase, parseDatabaseUrl } from '../../src/storage/database';

describe('[sqlite] connection settings', () => {
  let dir: string;
  const opened: Knex[] = [];
  const open = (options: { sqliteCacheMb?: number } = {}) => {
    const knex = openDatabase(parseDatabaseUrl(`sqlite:${join(dir, `s${opened.length}.sqlite`)}`), options);
    opened.push(knex);
    return knex;
  };
  const pragma = async (knex: Knex, name: string) => Object.values((await knex.raw(`PRAGMA ${name}`))[0] as object)[0];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'o2d-sqlite-settings-'));
  });

  after(async () => {
    for (const knex of opened) await knex.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('WAL journal, synchronous NORMAL, foreign keys enforced, busy timeout 5 s', async () => {
    const knex = open();
    expect(await pragma(knex, 'journal_mode')).to.equal('wal');
    expect(await pragma(knex, 'synchronous')).to.equal(1);
    expect(await pragma(knex, 'foreign_keys')).to.equal(1);
    expect(await pragma(knex, 'busy_timeout')).to.equal(5000);
  });

  it('the page cache is the documented default (4 MB, as KiB: negative), or what SQLITE_CACHE_MB sets', async () => {
    expect(defaults.sqliteCacheMb).to.equal(4);
    expect(await pragma(open(), 'cache_size')).to.equal(-4096);
    expect(await pragma(open({ sqliteCacheMb: 32 }), 'cache_size')).to.equal(-32768);
  });
});
