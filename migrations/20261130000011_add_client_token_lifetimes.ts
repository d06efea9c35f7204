import type { Knex } from 'knex';

// Per-client token lifetimes in seconds, set by an operator through the admin API or CLI.
// NULL means the server's setting (OAUTH2_ACCESS_TOKEN_TTL, OAUTH2_REFRESH_TOKEN_TTL).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.integer('access_token_lifetime').nullable();
    t.integer('refresh_token_lifetime').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('clients', (t) => {
    t.dropColumn('refresh_token_lifetime');
    t.dropColumn('access_token_lifetime');
  });
}
