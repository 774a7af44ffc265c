/**
 * The run ledger in the destination (`<state schema>.runs`, DESIGN section 7): one row per run
 * that reached the destination, with its outcome and per-stream counts.
 */
import type pg from 'pg';
import { quoteIdent } from '../../connectors/postgres/identifiers.js';
import type { RunResult } from './run-pipeline.js';

export function runsTableSql(schema: string): string[] {
  const s = quoteIdent(schema);
  return [
    `create schema if not exists ${s}`,
    `create table if not exists ${s}.runs (
       run_id uuid primary key,
       pipeline text not null,
       started_at timestamptz not null,
       finished_at timestamptz not null,
       status text not null,
       rows_written int8 not null,
       bytes_written int8 not null,
       streams jsonb not null,
       error jsonb)`,
  ];
}

export async function recordRun(dest: pg.Client, schema: string, r: RunResult): Promise<void> {
  for (const sql of runsTableSql(schema)) await dest.query(sql);
  await dest.query(
    `insert into ${quoteIdent(schema)}.runs (run_id, pipeline, started_at, finished_at, status, rows_written, bytes_written, streams, error)
     values ($1, $2, now() - make_interval(secs => $3::float8 / 1000), now(), $4, $5, $6, $7, $8)`,
    [r.run_id, r.pipeline, r.duration_ms, r.status, r.rows_written, r.bytes_written, JSON.stringify(r.streams), r.error ? JSON.stringify(r.error) : null],
  );
}
