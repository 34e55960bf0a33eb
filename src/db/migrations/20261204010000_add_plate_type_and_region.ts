import type { Knex } from "knex";
import { normalizePlate } from "../../plate/normalize.ts";

// Rows read and updated per round of the backfill.
const batchSize = 1000;

// Adds the plate type and region code, so that List can filter on them, and
// fills them in for rows stored before by reading each number again.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("plates", (table) => {
    table.text("type");
    table.text("region_code");
  });

  let lastId = "";
  for (;;) {
    const rows: { id: string; number: string }[] = await knex("plates")
      .select("id", "number")
      .where("id", ">", lastId === "" ? "00000000-0000-0000-0000-000000000000" : lastId)
      .orderBy("id")
      .limit(batchSize);
    if (rows.length === 0) {
      break;
    }
    for (const row of rows) {
      const result = normalizePlate(row.number);
      // A stored number was valid when it was added; should the rules have
      // become stricter since, keep the row and mark it as unknown.
      const type = result.ok ? result.plate.type : "UNSPECIFIED";
      const regionCode = result.ok ? result.plate.regionCode : "";
      await knex("plates").where({ id: row.id }).update({ type, region_code: regionCode });
    }
    lastId = rows[rows.length - 1]?.id ?? lastId;
  }

  await knex.schema.alterTable("plates", (table) => {
    table.dropNullable("type");
    table.dropNullable("region_code");
    table.index(["region_code"], "plates_region_code_idx");
    table.index(["type"], "plates_type_idx");
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable("plates", (table) => {
    table.dropIndex(["region_code"], "plates_region_code_idx");
    table.dropIndex(["type"], "plates_type_idx");
    table.dropColumn("type");
    table.dropColumn("region_code");
  });
}
