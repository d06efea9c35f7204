import type { Knex } from 'knex';

// One row per device flow (RFC 8628). Keyed by hashes: the device code by SHA-256, the user
// code by an HMAC under the server's key, each under a unique index. `poll_interval` (not
// `interval`, a reserved word in MySQL) and `last_polled_at` carry slow_down across processes.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('device_authorizations', (t) => {
    t.string('id', 64).primary();
    t.string('device_code_hash', 64).notNullable().unique();
    t.string('user_code_hash', 64).notNullable().unique();
    t.string('client_id', 128).notNullable().references('id').inTable('clients').onDelete('CASCADE');
    t.text('scope').notNullable();
    t.string('status', 16).notNullable(); // pending | approved | denied | consumed
    t.string('user_id', 64).nullable().references('id').inTable('users').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
    t.integer('poll_interval').notNullable();
    t.bigInteger('last_polled_at').nullable();
    t.bigInteger('decided_at').nullable();
    t.string('request_ip', 64).nullable();
    t.string('user_agent', 512).nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('device_authorizations');
}
