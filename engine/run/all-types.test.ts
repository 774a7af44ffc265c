/**
 * Exact data for every type (issue: foundation): the all-types fixture copied in each write mode
 * and each load method must give, per column, the same text form in source and destination
 * (md5 over the ordered values) and the same type (format_type).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../config/index.js';
import { createTestDatabase, dropTestDatabases, type TestDb } from '../testing/pg.js';
import { compareTables, loadFixture } from '../verify/index.js';
import { runPipeline } from './run-pipeline.js';

const expected = JSON.parse(readFileSync(new URL('../../scenarios/all-types/expected-types.json', import.meta.url), 'utf8')) as {
  rows: number;
  columns: Array<{ name: string; type: string }>;
};

let src: TestDb;

beforeAll(async () => {
  src = await createTestDatabase('alltypes_src');
  await loadFixture(src.url, 'all-types');
});
afterAll(dropTestDatabases);

function pipeline(dstUrl: string, writeMode: string, loadMethod: string): string {
  return `version: "1.0"
pipeline: all_types_${writeMode}_${loadMethod}
source:
  use: postgres
  config: { url: "${src.url}" }
  streams:
    - name: public.all_types
destination:
  use: postgres
  config: { url: "${dstUrl}", schema: copied, load_method: ${loadMethod} }
  write_mode: ${writeMode}
  primary_key: [id]
`;
}

describe('all types', () => {
  for (const loadMethod of ['copy', 'insert']) {
    for (const writeMode of ['append', 'replace', 'upsert']) {
      it(`${writeMode} with load_method ${loadMethod} keeps every value and every type`, async () => {
        const dst = await createTestDatabase('alltypes_dst');
        const config = parsePipelineConfig(pipeline(dst.url, writeMode, loadMethod), 'all-types.yaml', {});
        const result = await runPipeline(config, { parallelism: 1 });
        expect(result.error).toBeUndefined();
        expect(result.rows_written).toBe(expected.rows);
        expect(result.streams[0].load_method).toBe(loadMethod);
        if (writeMode === 'upsert') {
          // Again, into the copy: every row is compared with the target's (finalize.ts
          // mergeStaging), which must work for every type, equality operator or not.
          const again = await runPipeline(config, { parallelism: 1 });
          expect(again.error).toBeUndefined();
        }

        const [cmp] = await compareTables(src.url, dst.url, [{ source: { schema: 'public', table: 'all_types' }, dest: { schema: 'copied', table: 'all_types' } }]);
        expect(cmp.destRows).toBe(expected.rows);
        const differing = cmp.columns.filter((c) => !c.equal).map((c) => `${c.name}: ${c.sourceType} -> ${c.destType}`);
        expect(differing).toEqual([]);

        // The checksum above reads values through each type's output function, which for xml
        // drops the <?xml ...?> declaration: check the stored text too.
        const xmlText = `select md5(string_agg(coalesce(c_xml::text, 'NULL'), ',' order by id)) as h from `;
        const [a, b] = [await src.query(xmlText + 'public.all_types'), await dst.query(xmlText + 'copied.all_types')];
        expect(b.rows[0].h).toBe(a.rows[0].h);

        // Every destination column has the source's exact type.
        const types = await dst.query<{ name: string; type: string }>(
          `select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
           where attrelid = 'copied.all_types'::regclass and attnum > 0 and not attisdropped order by attnum`,
        );
        const want = new Map(expected.columns.map((c) => [c.name, c.type]));
        for (const row of types.rows) expect(`${row.name}: ${row.type}`).toBe(`${row.name}: ${want.get(row.name)}`);
        expect(types.rows.length).toBe(expected.columns.length);
      });
    }
  }
});
