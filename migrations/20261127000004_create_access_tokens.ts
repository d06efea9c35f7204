import type { Knex } from 'knex';

// Issued access tokens, by SHA-256 hash. `device_authorization_id` ties a token to the
// approval it came from, so a replayed device code can revoke it (RFC 6749 §4.1.2).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('access_tokens', (t) => {
    t.string('id', 64).primary();
    t.string('token_hash', 64).notNullable().unique();
    t.string('client_id', 128).notNullable().references('id').inTable('clients').onDelete('CASCADE');
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('scope').notNullable();
    t.string('device_authorization_id', 64).nullable().references('id').inTable('device_authorizations').onDelete('SET NULL');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
    t.bigInteger('revoked_at').nullable();
    t.index(['device_authorization_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('access_tokens');
}
