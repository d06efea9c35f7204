/**
 * The migrations as Knex sees them: the files of one directory, named by their TypeScript file
 * name whether the file found is the source (`.ts`, run through tsx by the tests and the CLI)
 * or its compiled `.js` (the build that `npm start` runs, scripts/build.mjs). Knex records each
 * migration by name and refuses to start when a recorded name has no file, so a database
 * migrated by one form has to be recognised by the other; Knex's own file source names them by
 * the file's extension.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';

const MIGRATION_FILE = /^\d+_\w+\.(ts|js)$/;

export class MigrationFiles implements Knex.MigrationSource<string> {
  constructor(readonly directory: string) {}

  async getMigrations(): Promise<string[]> {
    return readdirSync(this.directory)
      .filter((file) => MIGRATION_FILE.test(file))
      .sort();
  }

  getMigrationName(file: string): string {
    return file.replace(/\.js$/, '.ts');
  }

  async getMigration(file: string): Promise<Knex.Migration> {
    // CommonJS: under tsx (tests, the CLI) it compiles the .ts on require; the build ships .js.
    return require(join(this.directory, file)) as Knex.Migration;
  }
}
