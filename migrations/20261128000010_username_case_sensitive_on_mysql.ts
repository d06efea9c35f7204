import type { Knex } from 'knex';

// Usernames compare byte for byte on every database. MySQL's default collation would match
// "ALICE", "alice " and "àlice" to "alice" (SQLite never does), letting one account be reached
// under many names, each with its own sign-in counter. SQLite compares bytes already.
export async function up(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'mysql2') return;
  await knex.raw('ALTER TABLE users MODIFY username VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  if (knex.client.config.client !== 'mysql2') return;
  await knex.raw('ALTER TABLE users MODIFY username VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci NOT NULL');
}
