import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { compiledOnce } from '../../src/db/executor.js';
import { prepareStatements } from '../../src/db/preparedStatements.js';

/**
 * Named prepared statements (src/db/preparedStatements.ts) on a real Postgres: each shape is
 * prepared once per connection, a schema change under a prepared statement is survived, and the
 * per-connection cap holds. Temporary tables keep each case to its own session.
 */
const url = inject('sharedPostgresUrl');
let client: pg.Client;

async function prepared(on: pg.Client): Promise<string[]> {
  const rows = await on.query<{ name: string }>('select name from pg_prepared_statements order by prepare_time');
  return rows.rows.map((r) => r.name);
}

beforeAll(() => {
  if (!url) throw new Error('these tests need the local PostgreSQL (127.0.0.1:5432) or DATABASE_URL');
});

afterEach(async () => {
  await client?.end().catch(() => undefined);
});

async function connect(limit?: number): Promise<pg.Client> {
  client = new pg.Client({ connectionString: url! });
  await client.connect();
  prepareStatements(client, limit);
  await client.query('create temporary table notes (id int primary key, body text)');
  await client.query('insert into notes values (1, $1), (2, $2)', ['one', 'two']);
  return client;
}

describe('prepared statements', () => {
  it('prepares each parameterised statement once per connection and leaves the others unnamed', async () => {
    const c = await connect();
    for (const id of [1, 2, 1]) {
      const { rows } = await c.query('select body from notes where id = $1', [id]);
      expect(rows).toEqual([{ body: id === 1 ? 'one' : 'two' }]);
    }
    await c.query('select count(*) from notes');
    // The insert and the select, one name each; the statements without parameters are not named.
    expect(await prepared(c)).toEqual(['aw0', 'aw1']);
    const text = await c.query<{ statement: string }>('select statement from pg_prepared_statements where name = $1', ['aw1']);
    expect(text.rows[0]!.statement).toBe('select body from notes where id = $1');
  });

  it('stops naming at the cap: further shapes are sent unnamed and still answer', async () => {
    const c = await connect(2);
    await c.query('select body from notes where id = $1', [1]);
    const third = await c.query('select id from notes where body = $1', ['two']);
    expect(third.rows).toEqual([{ id: 2 }]);
    expect(await prepared(c)).toEqual(['aw0', 'aw1']);
  });

  it('survives a column added under a prepared select *: sent again at once outside a transaction', async () => {
    const c = await connect();
    expect((await c.query('select * from notes where id = $1', [1])).rows).toEqual([{ id: 1, body: 'one' }]);
    await c.query('alter table notes add column tag text');
    expect((await c.query('select * from notes where id = $1', [1])).rows).toEqual([{ id: 1, body: 'one', tag: null }]);
  });

  it('inside a transaction the change fails that statement (the transaction ends as on any error); the next use prepares the new shape', async () => {
    const c = await connect();
    await c.query('select * from notes where id = $1', [2]);
    await c.query('alter table notes add column tag text');
    await c.query('begin');
    await expect(c.query('select * from notes where id = $1', [2])).rejects.toMatchObject({ code: '0A000' });
    await c.query('rollback');
    expect((await c.query('select * from notes where id = $1', [2])).rows).toEqual([{ id: 2, body: 'two', tag: null }]);
  });
});

describe('openDatabase', () => {
  it('names the statements of its pool unless told not to', async () => {
    for (const preparedStatements of [true, false]) {
      const database = await openDatabase({ url: url!, poolSize: 1, preparedStatements });
      try {
        for (let i = 0; i < 2; i++) await sql`select ${i}::int + 1 as n`.execute(database.db);
        const names = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(database.db);
        expect(names.rows.length).toBe(preparedStatements ? 1 : 0);
      } finally {
        await database.close();
      }
    }
  });
});

describe('compiledOnce', () => {
  it('compiles the query once and sends each call its own values, constants kept', async () => {
    const database = await openDatabase({ url: url!, poolSize: 1 });
    try {
      let builds = 0;
      const pick = compiledOnce((db, word: string, n: number) => {
        builds++;
        return db.selectNoFrom((eb) => [sql<string>`${word}::text`.as('word'), sql<number>`${n}::int`.as('n'), eb.val(true).as('flag')]);
      });
      expect(await pick(database.db, 'first', 1)).toEqual([{ word: 'first', n: 1, flag: 'true' }]);
      expect(await pick(database.db, 'second', 2)).toEqual([{ word: 'second', n: 2, flag: 'true' }]);
      await database.db.transaction().execute(async (trx) => expect(await pick(trx, 'third', 3)).toEqual([{ word: 'third', n: 3, flag: 'true' }]));
      expect(builds).toBe(1);
    } finally {
      await database.close();
    }
  });

  it('refuses a query whose shape depends on an argument', async () => {
    const database = await openDatabase({ url: url!, poolSize: 1 });
    try {
      const shaped = compiledOnce((db, column: string) => db.selectNoFrom(sql.raw(`1 as ${column}`).as('x')));
      await expect(shaped(database.db, 'n')).rejects.toThrow(/written into the SQL text/);
      const transformed = compiledOnce((db, word: string) => db.selectNoFrom((eb) => eb.val(JSON.stringify({ word })).as('x')));
      await expect(transformed(database.db, 'w')).rejects.toThrow(/transformed into a parameter/);
    } finally {
      await database.close();
    }
  });
});
