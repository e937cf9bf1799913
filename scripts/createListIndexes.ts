/**
 * Builds the list indexes of migration 20261201T0200_list_indexes with CREATE INDEX
 * CONCURRENTLY, for a large live database: writes go on while they build. Run it before the
 * migration (`DATABASE_URL=… node --import tsx scripts/createListIndexes.ts`); the migration
 * then finds them. An index a failed concurrent build left INVALID is dropped and built again.
 */
import pg from 'pg';
import { LIST_INDEXES } from '../src/db/migrations/20261201T0200_list_indexes.js';

const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('DATABASE_URL is required\n');
  process.exit(64);
}
const client = new pg.Client({ connectionString: url });
await client.connect();
try {
  for (const index of LIST_INDEXES) {
    const found = await client.query<{ valid: boolean }>(
      `select i.indisvalid as valid from pg_index i join pg_class c on c.oid = i.indexrelid where c.relname = $1`,
      [index.name],
    );
    if (found.rows[0]?.valid) {
      process.stdout.write(`${index.name}: present\n`);
      continue;
    }
    if (found.rows[0]) await client.query(`drop index concurrently if exists "${index.name}"`);
    const started = Date.now();
    await client.query(`create index concurrently if not exists "${index.name}" on "${index.table}" (${index.columns})`);
    process.stdout.write(`${index.name}: built in ${Date.now() - started} ms\n`);
  }
} finally {
  await client.end();
}
