/**
 * A deployment's first start, or an upgrade that brings migrations: several server processes
 * start at once on a database that is not migrated yet. Each migrates at start; knex lets one
 * of them hold the migration lock, and the others must wait for it and then start, not exit
 * with "Migration table is already locked". Real processes on a real database.
 */
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { MIGRATIONS_DIRECTORY, migrateToLatest } from '../../src/storage/database';
import { TestDatabase, databaseKinds } from '../support/databases';
import { freePort, serverEnv, ServerProcess } from '../support/process';
import { TEST_SECRET_KEYS } from '../support/server';

const PROCESSES = 3;
const READY = /activate:\s+\S+\/activate/;

for (const kind of databaseKinds()) {
  describe(`[${kind}] migrations: knex's lock-row race`, function () {
    this.timeout(60_000);
    const db = new TestDatabase(kind);
    before(async () => db.setup({ migrate: false }));
    after(async () => db.teardown());

    it('two lock rows, as two processes creating the lock table at once leave them, do not block migrations forever', async () => {
      // What knex's read-then-insert of its lock row leaves when two processes race it.
      await db.knex.schema.createTable('knex_migrations_lock', (t) => {
        t.increments('index').primary();
        t.integer('is_locked');
      });
      await db.knex('knex_migrations_lock').insert([{ is_locked: 0 }, { is_locked: 0 }]);
      await migrateToLatest(db.knex, 20_000);
      expect(await db.knex('knex_migrations_lock').count({ n: '*' }).first()).to.deep.include({ n: 1 });
      expect((await db.knex('knex_migrations').count({ n: '*' }).first())?.n).to.equal(readdirSync(MIGRATIONS_DIRECTORY).filter((f) => f.endsWith('.ts')).length);
    });
  });

  describe(`[${kind}] robustness: processes that start together on an unmigrated database`, function () {
    this.timeout(90_000);
    const db = new TestDatabase(kind);
    const children: ServerProcess[] = [];

    before(async () => db.setup({ migrate: false }));
    after(async () => {
      for (const child of children) child.forceKill();
      await Promise.all(children.map((c) => c.waitForExit().catch(() => undefined)));
      await db.teardown();
    });

    it(`all ${PROCESSES} start: one migrates, the others wait for its lock`, async () => {
      for (let i = 0; i < PROCESSES; i++) {
        const port = await freePort();
        children.push(
          new ServerProcess(
            process.cwd(),
            serverEnv({
              DATABASE_URL: db.url,
              OAUTH2_SECRET_KEYS: TEST_SECRET_KEYS.join(','),
              PORT: String(port),
              HOST: '127.0.0.1',
              OAUTH2_ISSUER: `http://127.0.0.1:${port}`,
            }),
          ),
        );
      }
      await Promise.all(children.map((c) => c.waitForOutput(READY, 60_000)));
      const applied = await db.knex('knex_migrations').select('name');
      const files = readdirSync(MIGRATIONS_DIRECTORY).filter((f) => f.endsWith('.ts'));
      expect(applied.map((r: { name: string }) => r.name).sort(), 'each migration applied once').to.deep.equal(files.sort());
    });
  });
}
