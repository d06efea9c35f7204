import type { Knex } from 'knex';

// Registered applications. Only a SHA-256 hash of a confidential client's secret is kept.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('clients', (t) => {
    t.string('id', 128).primary();
    t.string('name', 200).notNullable();
    t.string('type', 16).notNullable(); // 'public' | 'confidential'
    t.string('secret_hash', 64).nullable();
    t.text('allowed_scopes').notNullable(); // space-delimited
    t.text('default_scopes').notNullable(); // space-delimited
    t.text('grant_types').notNullable(); // space-delimited
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('clients');
}
