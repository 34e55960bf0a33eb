import type { Knex } from "knex";

// Creates the table of stored plates. The unique index on the canonical
// number is what makes concurrent adds of one number store it once.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("plates", (table) => {
    table.uuid("id").primary().defaultTo(knex.raw("gen_random_uuid()"));
    table.text("number").notNullable().unique({ indexName: "plates_number_key" });
    // Millisecond precision, so that a JavaScript Date carries the exact value
    // into page tokens and keyset pagination stays exact.
    table
      .timestamp("created_at", { useTz: true, precision: 3 })
      .notNullable()
      .defaultTo(knex.raw("clock_timestamp()"));
    table.index(["created_at", "id"], "plates_created_at_id_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable("plates");
}
