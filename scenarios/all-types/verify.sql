/* Runs against the destination after `rb run`: every query returns one row with one column,
   ok = true; the comment after `select` names the check. Value-for-value equality with the
   source is checked separately (engine/verify compareTables); these checks name the edge cases
   one by one, so a failure says which one broke. */

select /* all 8 rows arrived */ count(*) = 8 as ok from raw.all_types;

select /* every column has its source type (user types by name, in any schema) */
       count(*) = 52 as ok
from pg_attribute a
join (values
  ('id', 'integer'), ('c_int2', 'smallint'), ('c_int4', 'integer'), ('c_int8', 'bigint'),
  ('c_float4', 'real'), ('c_float8', 'double precision'), ('c_numeric', 'numeric'),
  ('c_numeric_typmod', 'numeric(12,4)'), ('c_money', 'money'), ('c_text', 'text'),
  ('c_varchar', 'character varying(20)'), ('c_bpchar', 'character(5)'), ('c_bytea', 'bytea'),
  ('c_bool', 'boolean'), ('c_date', 'date'), ('c_timestamp', 'timestamp without time zone'),
  ('c_timestamptz', 'timestamp with time zone'), ('c_time', 'time without time zone'),
  ('c_timetz', 'time with time zone'), ('c_interval', 'interval'), ('c_uuid', 'uuid'),
  ('c_json', 'json'), ('c_jsonb', 'jsonb'), ('c_inet', 'inet'), ('c_cidr', 'cidr'),
  ('c_macaddr', 'macaddr'), ('c_macaddr8', 'macaddr8'), ('c_bit', 'bit(8)'), ('c_varbit', 'bit varying'),
  ('c_tsvector', 'tsvector'), ('c_tsquery', 'tsquery'), ('c_point', 'point'), ('c_line', 'line'),
  ('c_lseg', 'lseg'), ('c_box', 'box'), ('c_path', 'path'), ('c_polygon', 'polygon'), ('c_circle', 'circle'),
  ('c_xml', 'xml'), ('c_pg_lsn', 'pg_lsn'), ('c_int4range', 'int4range'), ('c_tstzrange', 'tstzrange'),
  ('c_int4multirange', 'int4multirange'), ('c_int4_arr', 'integer[]'), ('c_int4_2d', 'integer[]'),
  ('c_text_arr', 'text[]'), ('c_mood', 'mood'), ('c_mood_arr', 'mood[]'), ('c_posint', 'posint'),
  ('c_pair', 'pair'), ('c_generated', 'bigint'), ('c_identity', 'bigint')
) as e(name, type) on e.name = a.attname
where a.attrelid = 'raw.all_types'::regclass and a.attnum > 0 and not a.attisdropped
  and regexp_replace(format_type(a.atttypid, a.atttypmod), '^("[^"]+"|[^".]+)\.', '') = e.type;

select /* user types keep their definitions (enum labels in order, domain check, composite fields) */
       (select array_agg(enumlabel::text order by enumsortorder) from pg_enum
         where enumtypid = (select atttypid from pg_attribute where attrelid = 'raw.all_types'::regclass and attname = 'c_mood'))
         = array['sad', 'ok', 'happy', 'über "glücklich"']
       and (select count(*) from pg_constraint
             where contypid = (select atttypid from pg_attribute where attrelid = 'raw.all_types'::regclass and attname = 'c_posint')
               and pg_get_constraintdef(oid) like '%VALUE > 0%') = 1
       and (select array_agg(attname::text || ' ' || format_type(atttypid, atttypmod) order by attnum) from pg_attribute
             where attrelid = (select typrelid from pg_type where oid =
                    (select atttypid from pg_attribute where attrelid = 'raw.all_types'::regclass and attname = 'c_pair')))
         = array['a integer', 'b text'] as ok;

select /* identity and generated columns arrive as plain columns with the source values */
       (select bool_and(attidentity = '' and attgenerated = '') from pg_attribute
         where attrelid = 'raw.all_types'::regclass and attname in ('c_identity', 'c_generated'))
       and (select array_agg(c_identity order by id) = array[1, 2, 3, 4, 5, 6, 7, 8]::bigint[]
                   and array_agg(c_generated order by id) is not distinct from
                       array[246913, null, -4294967293, 4294967298, 5, null, 5, 12]::bigint[]
            from raw.all_types) as ok;

select /* row 2 is NULL in every source-supplied column */
       not exists (select 1 from raw.all_types t, jsonb_each(to_jsonb(t)) as e(k, v)
                   where t.id = 2 and e.k not in ('id', 'c_identity', 'c_generated') and e.v <> 'null'::jsonb) as ok;

select /* floats: NaN, ±Infinity, -0 and extremes */
       (select array_agg(c_float8::text order by id) from raw.all_types where id in (3, 4, 5, 6, 7, 8))
         = array['-Infinity', 'Infinity', '-0', 'NaN', '5e-324', '1.7976931348623157e+308']
       and (select array_agg(c_float4::text order by id) from raw.all_types where id in (3, 4, 5, 6, 7, 8))
         = array['-Infinity', 'Infinity', '-0', 'NaN', '1.1754944e-38', '3.4028235e+38'] as ok;

select /* numerics: NaN, ±Infinity, 1,000-digit values, typmod scale kept */
       (select c_numeric = repeat('9', 1000)::numeric from raw.all_types where id = 6)
       and (select c_numeric::text = '-' || repeat('1', 500) || '.' || repeat('2', 500) from raw.all_types where id = 7)
       and (select c_numeric::text = '0.' || repeat('0', 999) || '1' from raw.all_types where id = 8)
       and (select array_agg(c_numeric::text order by id) from raw.all_types where id in (1, 3, 4, 5))
         = array['12345.678900', '-Infinity', 'Infinity', 'NaN']
       and (select array_agg(c_numeric_typmod::text order by id) from raw.all_types where id in (1, 5, 8))
         = array['1234.5000', '0.0001', '-0.5000'] as ok;

select /* bytea: all 256 byte values in order, empty, single zero byte */
       (select c_bytea = (select string_agg(set_byte('\x00'::bytea, 0, b), ''::bytea order by b) from generate_series(0, 255) b)
          from raw.all_types where id = 4)
       and (select c_bytea = '\x'::bytea from raw.all_types where id = 3)
       and (select c_bytea = '\x00'::bytea from raw.all_types where id = 5) as ok;

select /* strings: tabs, newlines, backslashes, quotes, NULL look-alikes, unicode, empty */
       (select c_text = E'tab\there\nnewline\r\ncrlf back\\slash "double" ''single'' \\N NULL \\x00 ,;|' from raw.all_types where id = 4)
       and (select c_text = 'NULL' and c_varchar = E'\\N' and c_bpchar = 'NULL ' from raw.all_types where id = 7)
       and (select c_text = E'\\N-null' from raw.all_types where id = 8)
       and (select c_text = '' and c_varchar = '' from raw.all_types where id = 3)
       and (select c_text = E'Ünïcödé 日本語 العربية 🐘🎉 e\u0301 𝄞 \u200b zero-width' and c_varchar = '🐘🐘🐘' from raw.all_types where id = 5)
       and (select c_text is null from raw.all_types where id = 2) as ok;

select /* dates and times: BC, ±infinity, microseconds, 24:00, extreme offsets */
       (select c_date = '4713-01-01 BC' and c_timestamp = '-infinity' and c_timestamptz = '-infinity'
               and c_timetz::text = '00:00:00-15:59' and c_interval = '-infinity'::interval from raw.all_types where id = 3)
       and (select c_date = '5874897-12-31' and c_timestamp = 'infinity' and c_time = '24:00:00'
               and c_timetz::text = '24:00:00+15:59' and c_interval = 'infinity'::interval from raw.all_types where id = 4)
       and (select c_timestamp = '0044-03-15 12:00:00 BC' and c_timestamptz = '1999-12-31 23:59:59.999999+14'
               and c_time = '23:59:59.999999' and c_interval::text = '-1 days +23:59:59.999999' from raw.all_types where id = 5)
       and (select c_timestamptz = '2000-01-01 00:00:00.000001+00' from raw.all_types where id = 6) as ok;

select /* json keeps whitespace, key order and duplicate keys; JSON null is not SQL NULL */
       (select c_json::text = '{"z":1,"a":2,"z":3,  "nested" : {"y":[1,2.50,1e3]}, "u": "\u00fc\ud83d\udc18"}' from raw.all_types where id = 4)
       and (select c_json::text = '  [1,  "two" , {"three": 3}]  ' from raw.all_types where id = 7)
       and (select c_json::text = 'null' and c_jsonb = 'null'::jsonb from raw.all_types where id = 5)
       and (select c_jsonb = '{"z": 1, "a": "ünï \"q\" \\ 🎉", "n": 1.500, "big": 123456789012345678901234567890, "e": 1e-7}'::jsonb
              and c_jsonb->>'n' = '1.500' from raw.all_types where id = 4) as ok;

select /* arrays: NULL elements, non-default bounds, 2-D, NULL-like strings, enum arrays */
       (select c_int4_arr::text = '[0:2]={1,NULL,3}' and c_int4_2d::text = '[-1:0][5:6]={{1,NULL},{NULL,4}}'
               and array_lower(c_int4_2d, 1) = -1 and array_lower(c_int4_2d, 2) = 5
               and c_text_arr = array[null, 'NULL', '', 'with "quote"', E'back\\slash', E'new\nline', ' spaced ', '{}', E'\\N']
               and c_mood_arr::text = '{happy,NULL,"über \"glücklich\""}' from raw.all_types where id = 4)
       and (select c_text_arr::text = '{NULL}' and c_int4_2d::text = '{{NULL,NULL}}' from raw.all_types where id = 5)
       and (select c_text_arr = array['NULL'] and cardinality(c_int4_arr) = 1000 from raw.all_types where id = 6)
       and (select c_int4_arr = '{}' and c_mood_arr::text = '{}' from raw.all_types where id = 3) as ok;

select /* network, bit, text search, geometric, xml, lsn, range and composite values */
       (select c_inet::text = '2001:db8::1/64' and c_cidr::text = '2001:db8::/32' and c_macaddr8::text = 'ff:ff:ff:ff:ff:ff:ff:ff'
               and c_bit::text = '11111111' and length(c_varbit) = 73
               and c_tsvector::text = '''a'':1A ''cat'':5 ''fat'':2B,4C ''it''''s'':3'
               and c_tsquery::text = '''supernova'' & !''star'':* <-> ''x'':AB'
               and c_point::text = '(1e+300,-1e-300)' and c_polygon::text = '((0,0),(0,10),(10,10),(10,0),(5,-5))'
               and format('%s', c_xml) = '<root><![CDATA[<raw> & stuff]]><e a="ü">x</e></root>'
               and c_pg_lsn = 'FFFFFFFF/FFFFFFFF' and c_tstzrange = '[-infinity,infinity]'
               and c_int4multirange = '{[1,2),[3,4),[5,)}' and c_posint = 2147483647
               and (c_pair).a = -1 and (c_pair).b = 'with, comma and "quote"' from raw.all_types where id = 4)
       and (select c_int4range = 'empty' and c_tsquery::text = '' and c_xml::text = ''
               and c_pair::text = '(,)' from raw.all_types where id = 3) -- a row of NULL fields, not a NULL row
       and (select c_point::text = '(-0,-0)' and c_circle::text = '<(-0,-0),0.5>' from raw.all_types where id = 5)
       and (select (c_pair).b = 'NULL' from raw.all_types where id = 7) as ok;
