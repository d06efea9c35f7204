import type { Knex } from 'knex';

// An approval the person (or reuse detection) revoked: its tokens stop working at once and it
// leaves the person's list of devices.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('device_authorizations', (t) => {
    t.bigInteger('revoked_at').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('device_authorizations', (t) => {
    t.dropColumn('revoked_at');
  });
}
