import type { Knex } from 'knex';

// Local accounts of the people who approve devices. Passwords are scrypt hashes.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.string('id', 64).primary();
    t.string('username', 128).notNullable().unique();
    t.string('name', 200).notNullable();
    t.string('email', 320).nullable();
    t.string('password_hash', 255).notNullable();
    t.boolean('disabled').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('users');
}
