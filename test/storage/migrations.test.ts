import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import { dialectOf, MIGRATIONS_DIRECTORY } from '../../src/storage/database';
import { forEachDatabase } from '../support/databases';
import { makePublicClient, makeUser } from '../support/server';

const TABLES = ['clients', 'users', 'device_authorizations', 'access_tokens', 'sessions', 'attempt_counters', 'refresh_tokens'];

forEachDatabase('migrations', (db) => {
  async function existing(): Promise<Record<string, boolean>> {
    const result: Record<string, boolean> = {};
    for (const table of TABLES) result[table] = await db.knex.schema.hasTable(table);
    return result;
  }
  const all = (value: boolean) => Object.fromEntries(TABLES.map((t) => [t, value]));

  /** Columns, indexes and foreign keys of every table, as the database itself describes them. */
  async function schemaDump(): Promise<Record<string, unknown>> {
    const result: Record<string, unknown> = {};
    for (const table of TABLES) {
      const definition =
        dialectOf(db.knex) === 'sqlite'
          ? await db.knex('sqlite_master').select('type', 'name', 'sql').where({ tbl_name: table }).orderBy('name')
          : ((await db.knex.raw(`SHOW CREATE TABLE \`${table}\``)) as [Array<Record<string, string>>])[0][0]!['Create Table'];
      result[table] = { columns: await db.knex(table).columnInfo(), definition };
    }
    return result;
  }

  async function migrationsRun(): Promise<number> {
    const [row] = await db.knex('knex_migrations').count({ n: '*' });
    return Number(row!.n);
  }

  // Whatever happens in a test, the next test (and any later user of this database) gets the
  // full schema back. afterEach, not after: forEachDatabase's own after hook closes the pool first.
  afterEach(async () => {
    await db.knex.migrate.latest();
  });

  it('every migration file has been applied, and one table per migration exists', async () => {
    const files = readdirSync(MIGRATIONS_DIRECTORY).filter((f) => f.endsWith('.ts'));
    expect(files.filter((f) => /_create_/.test(f))).to.have.length(TABLES.length);
    expect(await migrationsRun()).to.equal(files.length);
    expect(await existing()).to.deep.equal(all(true));
  });

  it('rolling back all migrations removes every table, and latest brings them back, twice in a row (down reverses up)', async () => {
    const schema = await schemaDump();
    // The dump sees indexes and foreign keys, not only columns.
    expect(JSON.stringify(schema.access_tokens)).to.match(/unique/i);
    expect(JSON.stringify(schema.access_tokens)).to.match(/references/i);
    for (let round = 1; round <= 2; round++) {
      await db.knex.migrate.rollback(undefined, true);
      expect(await existing(), `after rollback ${round}`).to.deep.equal(all(false));
      expect(await migrationsRun(), `migrations recorded after rollback ${round}`).to.equal(0);
      expect(await db.knex.migrate.currentVersion()).to.equal('none');

      await db.knex.migrate.latest();
      expect(await existing(), `after latest ${round}`).to.deep.equal(all(true));
      expect(await migrationsRun()).to.equal(readdirSync(MIGRATIONS_DIRECTORY).filter((f) => f.endsWith('.ts')).length);
      expect(await schemaDump(), `schema after round ${round}`).to.deep.equal(schema);
    }
  });

  it('rolling back drops the data with the tables, and the re-created schema works with the store', async () => {
    const client = await makePublicClient(db.store);
    const user = await makeUser(db.store);
    expect(await db.store.findClient(client.id)).to.deep.equal(client);

    await db.knex.migrate.rollback(undefined, true);
    await db.knex.migrate.latest();

    expect(await db.store.findClient(client.id)).to.equal(undefined);
    expect(await db.store.findUserById(user.id)).to.equal(undefined);
    const again = await makePublicClient(db.store);
    expect(await db.store.findClient(again.id)).to.deep.equal(again);
    const again2 = await makeUser(db.store);
    expect((await db.store.findUserByUsername(again2.username))?.id).to.equal(again2.id);
  });

  it('a second latest on an up-to-date database does nothing', async () => {
    const [, pending] = await db.knex.migrate.list();
    expect(pending).to.deep.equal([]);
    const [batch, log] = await db.knex.migrate.latest();
    expect(log).to.deep.equal([]);
    expect(batch).to.be.a('number');
    expect(await existing()).to.deep.equal(all(true));
  });
});
