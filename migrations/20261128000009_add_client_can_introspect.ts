import type { Knex } from 'knex';

// Resource servers are clients too; only those marked here may call the introspection endpoint.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.boolean('can_introspect').notNullable().defaultTo(false);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('can_introspect');
  });
}
