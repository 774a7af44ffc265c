// The plain Node pipe contender: what a Node user writes by hand with pg + pg-copy-streams.
// One binary COPY stream per table, one table after the other. Plain JavaScript run by plain node
// (no tsx), spawned by the bench as its own process so its RSS and CPU are its own.
// Input (environment): RB_SRC_URL, RB_DST_URL, RB_TABLES (comma-separated, schema public).
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';

const tables = (process.env.RB_TABLES ?? '').split(',').filter(Boolean);
const src = new pg.Client({ connectionString: process.env.RB_SRC_URL });
const dst = new pg.Client({ connectionString: process.env.RB_DST_URL });
await src.connect();
await dst.connect();
try {
  for (const t of tables) {
    await pipeline(
      src.query(copyTo(`COPY public.${t} TO STDOUT (FORMAT binary)`)),
      dst.query(copyFrom(`COPY public.${t} FROM STDIN (FORMAT binary)`)),
    );
  }
} finally {
  await src.end();
  await dst.end();
}
