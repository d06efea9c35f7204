import type { Knex } from 'knex';

// Refresh tokens (RFC 6749 §6), by SHA-256 hash. `device_authorization_id` is the approval
// (the grant) they belong to, so that a reused or revoked refresh token can revoke every token
// of that approval. `rotated_at` marks a token that was exchanged for a new one: presenting it
// again is reuse (RFC 9700 §4.14).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('refresh_tokens', (t) => {
    t.string('id', 64).primary();
    t.string('token_hash', 64).notNullable().unique();
    t.string('client_id', 128).notNullable().references('id').inTable('clients').onDelete('CASCADE');
    t.string('user_id', 64).notNullable().references('id').inTable('users').onDelete('CASCADE');
    t.text('scope').notNullable();
    t.string('device_authorization_id', 64).notNullable().references('id').inTable('device_authorizations').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable().index();
    t.bigInteger('rotated_at').nullable();
    t.bigInteger('revoked_at').nullable();
    t.index(['device_authorization_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('refresh_tokens');
}
