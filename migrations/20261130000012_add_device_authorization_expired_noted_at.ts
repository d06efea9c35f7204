import type { Knex } from 'knex';

// When a flow was first found expired without an exchange: set once by a conditional UPDATE,
// so every process together counts each expired flow once (the expired metric and event).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('device_authorizations', (t) => {
    t.bigInteger('expired_noted_at').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('device_authorizations', (t) => {
    t.dropColumn('expired_noted_at');
  });
}
