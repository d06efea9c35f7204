import type { Knex } from 'knex';

// Failed attempts (user codes, sign-in) per IP address and per account, in the database so
// that every server process counts the same failures and enforces the same lockout.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('attempt_counters', (t) => {
    t.string('counter_key', 200).primary(); // e.g. code:ip:203.0.113.7, signin:user:alice
    t.integer('failures').notNullable();
    t.bigInteger('window_started_at').notNullable();
    t.bigInteger('locked_until').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('attempt_counters');
}
