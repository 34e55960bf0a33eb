import type { Knex } from "knex";

// Creates the table of API tokens. Only a SHA-256 digest of each token is
// stored, so a copy of the database does not give access to the service.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("api_tokens", (table) => {
    table.uuid("id").primary().defaultTo(knex.raw("gen_random_uuid()"));
    table.text("name").notNullable().unique({ indexName: "api_tokens_name_key" });
    table.text("token_hash").notNullable().unique({ indexName: "api_tokens_token_hash_key" });
    table.specificType("scopes", "text[]").notNullable();
    table.timestamp("created_at", { useTz: true, precision: 3 }).notNullable().defaultTo(knex.raw("clock_timestamp()"));
    table.timestamp("last_used_at", { useTz: true, precision: 3 });
    table.timestamp("revoked_at", { useTz: true, precision: 3 });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("api_tokens");
}
