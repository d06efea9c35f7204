/**
 * `npm start` runs the build (scripts/build.mjs: tsc into dist/, with the files the server reads
 * beside its code and the spec) and then dist/src/main.js. The tests and the CLI run the sources
 * through tsx. One database must work under both: the compiled migrations answer to the names
 * the sources record (src/storage/migration-files.ts), in either order.
 */
import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { buildAsNpmStartDoes } from '../../bench/start-script';
import { MIGRATIONS_CONFIG, MIGRATIONS_DIRECTORY } from '../../src/storage/database';
import { TestDatabase, databaseKinds } from '../support/databases';
import { freePort, serverEnv, ServerProcess } from '../support/process';
import { TEST_SECRET_KEYS } from '../support/server';

const READY = /activate:\s+(\S+)\/activate/;
const SOURCE_MIGRATIONS = readdirSync(MIGRATIONS_DIRECTORY).filter((f) => f.endsWith('.ts')).sort();

async function startBuild(db: TestDatabase): Promise<{ server: ServerProcess; base: string }> {
  const port = await freePort();
  const server = new ServerProcess(
    process.cwd(),
    serverEnv({ DATABASE_URL: db.url, OAUTH2_SECRET_KEYS: TEST_SECRET_KEYS.join(','), PORT: String(port), HOST: '127.0.0.1', OAUTH2_LOG_LEVEL: 'warn' }),
    'build',
  );
  await server.waitForOutput(READY);
  return { server, base: `http://127.0.0.1:${port}` };
}

async function stop(server: ServerProcess): Promise<void> {
  server.terminate();
  expect((await server.waitForExit()).code, 'exit code after SIGTERM').to.equal(0);
}

before(function () {
  this.timeout(120_000);
  buildAsNpmStartDoes();
});

for (const kind of databaseKinds()) {
  describe(`[${kind}] npm start's build (dist/)`, function () {
    this.timeout(60_000);

    it('serves a database the sources migrated: its pages, styles, docs and spec come from the build', async () => {
      const db = new TestDatabase(kind);
      await db.setup();
      const { server, base } = await startBuild(db);
      try {
        const metadata = await fetch(`${base}/.well-known/oauth-authorization-server`);
        expect(metadata.status).to.equal(200);
        const activate = await fetch(`${base}/activate`);
        expect([activate.status, activate.headers.get('content-type')]).to.deep.equal([200, 'text/html; charset=utf-8']);
        const page = await activate.text();
        expect(page).to.match(/<form[^>]*action="[^"]*\/activate"/);
        expect(page, 'the stylesheet from src/views/style.css').to.match(/<style[^>]*>[^<]*\{/);
        expect((await fetch(`${base}/docs`)).status).to.equal(200);
        expect((await fetch(`${base}/docs/docs-init.js`)).status).to.equal(200);
        expect(await (await fetch(`${base}/openapi.yaml`)).text()).to.match(/^openapi: 3\.0\.3$/m);
      } finally {
        await stop(server).finally(() => server.forceKill());
        await db.teardown();
      }
    });

    it('migrates a new database under the names the sources use: the sources then find every migration done', async () => {
      const db = new TestDatabase(kind);
      await db.setup({ migrate: false });
      try {
        const { server } = await startBuild(db);
        await stop(server).finally(() => server.forceKill());
        const recorded = (await db.knex('knex_migrations').select('name').orderBy('name')).map((r: { name: string }) => r.name);
        expect(recorded).to.deep.equal(SOURCE_MIGRATIONS);
        const [, pending] = (await db.knex.migrate.list(MIGRATIONS_CONFIG)) as [unknown[], unknown[]];
        expect(pending).to.deep.equal([]);
      } finally {
        await db.teardown();
      }
    });
  });
}
