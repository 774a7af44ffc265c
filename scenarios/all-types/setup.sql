-- All-types fixture: one table, `public.all_types`, with one column per PostgreSQL type rb must
-- carry exactly, and rows of ordinary and edge values (NaN, ±Infinity, -0, 1,000-digit numerics,
-- every byte value, BC dates, ±infinity timestamps, NULL array elements, non-default array bounds,
-- strings that look like NULL markers, ...). Row 2 is NULL in every column but `id` (and the
-- generated/identity columns, which the server fills in).
--
-- `c_generated` (generated always ... stored) and `c_identity` (generated always as identity)
-- exist so a destination can show they arrive as plain values.
--
-- Idempotent: types and the table are created only if absent, rows inserted only while the table
-- is empty. Values with a time zone carry an explicit offset so they do not depend on the session.
-- Column types as the catalog reports them: scenarios/all-types/expected-types.json.

do $fixture$
begin
  if to_regtype('public.mood') is null then
    create type public.mood as enum ('sad', 'ok', 'happy', 'über "glücklich"');
  end if;
  if to_regtype('public.posint') is null then
    create domain public.posint as int check (value > 0);
  end if;
  if to_regtype('public.pair') is null then
    create type public.pair as (a int, b text);
  end if;
end
$fixture$;

create table if not exists public.all_types (
  id                int primary key,
  c_int2            smallint,
  c_int4            integer,
  c_int8            bigint,
  c_float4          real,
  c_float8          double precision,
  c_numeric         numeric,
  c_numeric_typmod  numeric(12,4),
  c_money           money,
  c_text            text,
  c_varchar         varchar(20),
  c_bpchar          char(5),
  c_bytea           bytea,
  c_bool            boolean,
  c_date            date,
  c_timestamp       timestamp,
  c_timestamptz     timestamptz,
  c_time            time,
  c_timetz          timetz,
  c_interval        interval,
  c_uuid            uuid,
  c_json            json,
  c_jsonb           jsonb,
  c_inet            inet,
  c_cidr            cidr,
  c_macaddr         macaddr,
  c_macaddr8        macaddr8,
  c_bit             bit(8),
  c_varbit          varbit,
  c_tsvector        tsvector,
  c_tsquery         tsquery,
  c_point           point,
  c_line            line,
  c_lseg            lseg,
  c_box             box,
  c_path            path,
  c_polygon         polygon,
  c_circle          circle,
  c_xml             xml,
  c_pg_lsn          pg_lsn,
  c_int4range       int4range,
  c_tstzrange       tstzrange,
  c_int4multirange  int4multirange,
  c_int4_arr        int[],
  c_int4_2d         int[][],
  c_text_arr        text[],
  c_mood            public.mood,
  c_mood_arr        public.mood[],
  c_posint          public.posint,
  c_pair            public.pair,
  c_generated       bigint generated always as (c_int4::bigint * 2 + id) stored,
  c_identity        bigint generated always as identity
);

do $fixture$
begin
  if exists (select 1 from public.all_types) then
    return;
  end if;

  -- 1: ordinary values.
  insert into public.all_types (id, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric, c_numeric_typmod,
    c_money, c_text, c_varchar, c_bpchar, c_bytea, c_bool, c_date, c_timestamp, c_timestamptz, c_time, c_timetz,
    c_interval, c_uuid, c_json, c_jsonb, c_inet, c_cidr, c_macaddr, c_macaddr8, c_bit, c_varbit, c_tsvector,
    c_tsquery, c_point, c_line, c_lseg, c_box, c_path, c_polygon, c_circle, c_xml, c_pg_lsn, c_int4range,
    c_tstzrange, c_int4multirange, c_int4_arr, c_int4_2d, c_text_arr, c_mood, c_mood_arr, c_posint, c_pair)
  values (1, 42, 123456, 1234567890123, 3.14, 2.718281828459045, 12345.678900, 1234.5,
    1234.56, 'hello world', 'varchar', 'ab', '\xdeadbeef', true, '2024-02-29', '2024-02-29 12:34:56.789012',
    '2024-02-29 12:34:56.789012+05:30', '12:34:56.789012', '12:34:56.789012+05:30',
    '1 year 2 mons 3 days 04:05:06.789012', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '{"b": 1,   "a": [1, 2, {"c": null}]}', '{"b": 1, "a": [1, 2]}', '192.168.0.1/24', '10.0.0.0/8',
    '08:00:2b:01:02:03', '08:00:2b:01:02:03:04:05', B'10101010', B'101', 'a fat cat sat on a mat',
    'fat & (rat | cat)', '(1.5,2.5)', '{1,-1,0}', '[(0,0),(1,1)]', '(1,1),(0,0)', '[(0,0),(1,1),(2,0)]',
    '((0,0),(1,1),(1,0))', '<(0,0),1>', '<a b="1">text &amp; more</a>', '16/B374D848', '[1,10)',
    '[2024-01-01 00:00:00+00,2024-12-31 23:59:59.999999+00)', '{[1,3),[5,8)}', '{1,2,3}', '{{1,2},{3,4}}',
    '{"a","b c","d,e"}', 'happy', '{sad,happy}', 7, '(1,"one")');

  -- 2: NULL everywhere but the key.
  insert into public.all_types (id) values (2);

  -- 3: minimums, empties and negative infinities.
  insert into public.all_types (id, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric, c_numeric_typmod,
    c_money, c_text, c_varchar, c_bpchar, c_bytea, c_bool, c_date, c_timestamp, c_timestamptz, c_time, c_timetz,
    c_interval, c_uuid, c_json, c_jsonb, c_inet, c_cidr, c_macaddr, c_macaddr8, c_bit, c_varbit, c_tsvector,
    c_tsquery, c_point, c_line, c_lseg, c_box, c_path, c_polygon, c_circle, c_xml, c_pg_lsn, c_int4range,
    c_tstzrange, c_int4multirange, c_int4_arr, c_int4_2d, c_text_arr, c_mood, c_mood_arr, c_posint, c_pair)
  values (3, -32768, -2147483648, -9223372036854775808, '-Infinity', '-Infinity', '-Infinity', -99999999.9999,
    '-92233720368547758.08', '', '', '', '\x', false, '4713-01-01 BC', '-infinity', '-infinity', '00:00:00',
    '00:00:00-15:59', '-infinity', '00000000-0000-0000-0000-000000000000', '[]', '{}', '::', '::/0',
    '00:00:00:00:00:00', '00:00:00:00:00:00:00:00', B'00000000', B'', '', '', '(0,0)', '{0,1,-1}',
    '[(-1,-1),(-1,-1)]', '(0,0),(0,0)', '((0,0))', '((0,0))', '<(0,0),0>', '', '0/0', 'empty', '(,)', '{}',
    '{}', '{}', '{}', 'sad', '{}', 1, '(,)');

  -- 4: maximums, positive infinities, every byte value, awkward strings, non-default array bounds.
  insert into public.all_types (id, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric, c_numeric_typmod,
    c_money, c_text, c_varchar, c_bpchar, c_bytea, c_bool, c_date, c_timestamp, c_timestamptz, c_time, c_timetz,
    c_interval, c_uuid, c_json, c_jsonb, c_inet, c_cidr, c_macaddr, c_macaddr8, c_bit, c_varbit, c_tsvector,
    c_tsquery, c_point, c_line, c_lseg, c_box, c_path, c_polygon, c_circle, c_xml, c_pg_lsn, c_int4range,
    c_tstzrange, c_int4multirange, c_int4_arr, c_int4_2d, c_text_arr, c_mood, c_mood_arr, c_posint, c_pair)
  values (4, 32767, 2147483647, 9223372036854775807, 'Infinity', 'Infinity', 'Infinity', 99999999.9999,
    '92233720368547758.07',
    E'tab\there\nnewline\r\ncrlf back\\slash "double" ''single'' \\N NULL \\x00 ,;|',
    E'ünïcödé ✓ 🐘 "q" \\ x', 'abcde',
    (select string_agg(set_byte('\x00'::bytea, 0, b), ''::bytea order by b) from generate_series(0, 255) b),
    true, '5874897-12-31', 'infinity', 'infinity', '24:00:00', '24:00:00+15:59', 'infinity',
    'ffffffff-ffff-ffff-ffff-ffffffffffff',
    '{"z":1,"a":2,"z":3,  "nested" : {"y":[1,2.50,1e3]}, "u": "\u00fc\ud83d\udc18"}',
    '{"z": 1, "a": "ünï \"q\" \\ 🎉", "n": 1.500, "big": 123456789012345678901234567890, "e": 1e-7}',
    '2001:db8::1/64', '2001:db8::/32', 'ff:ff:ff:ff:ff:ff', 'ff:ff:ff:ff:ff:ff:ff:ff', B'11111111',
    B'1010101010101010101010101010101010101010101010101010101010101010101010101', 'a:1A fat:2B,4C cat:5D ''it''''s'':3',
    '''supernova'' & !''star'':* <-> ''x'':AB', '(1e+300,-1e-300)', '{1,2,3}', '[(1.5,-2.5),(1e10,-1e10)]',
    '(1e10,1e10),(-1e10,-1e10)', '[(0,0),(1,2),(3,4),(5,6)]', '((0,0),(0,10),(10,10),(10,0),(5,-5))',
    '<(1.5,-2.5),3.25>', '<?xml version="1.0"?><root><![CDATA[<raw> & stuff]]><e a="ü">x</e></root>',
    'FFFFFFFF/FFFFFFFF', '[-2147483648,2147483647)', '[-infinity,infinity]', '{[1,2),[3,4),[5,)}',
    '[0:2]={1,NULL,3}', '[-1:0][5:6]={{1,NULL},{NULL,4}}',
    array[null, 'NULL', '', 'with "quote"', E'back\\slash', E'new\nline', ' spaced ', '{}', E'\\N'],
    'über "glücklich"', '{happy,NULL,"über \"glücklich\""}', 2147483647, '(-1,"with, comma and \"quote\"")');

  -- 5: negative zeros, NaN, unicode, BC timestamps, JSON null (not SQL NULL).
  insert into public.all_types (id, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric, c_numeric_typmod,
    c_money, c_text, c_varchar, c_bpchar, c_bytea, c_bool, c_date, c_timestamp, c_timestamptz, c_time, c_timetz,
    c_interval, c_uuid, c_json, c_jsonb, c_inet, c_cidr, c_macaddr, c_macaddr8, c_bit, c_varbit, c_tsvector,
    c_tsquery, c_point, c_line, c_lseg, c_box, c_path, c_polygon, c_circle, c_xml, c_pg_lsn, c_int4range,
    c_tstzrange, c_int4multirange, c_int4_arr, c_int4_2d, c_text_arr, c_mood, c_mood_arr, c_posint, c_pair)
  values (5, 0, 0, 0, '-0', '-0', 'NaN', 0.0001, 0,
    E'Ünïcödé 日本語 العربية 🐘🎉 e\u0301 𝄞 \u200b zero-width', '🐘🐘🐘', 'é', '\x00', false, '0001-01-01 BC',
    '0044-03-15 12:00:00 BC', '1999-12-31 23:59:59.999999+14', '23:59:59.999999', '23:59:59.999999-15:59',
    '-1 days +23:59:59.999999', '123e4567-e89b-12d3-a456-426614174000', 'null', 'null', '0.0.0.0/0',
    '0.0.0.0/0', '01:23:45:67:89:ab', '01:23:45:67:89:ab:cd:ef', B'00000001', B'1', 'ünïcödé:1 日本:2',
    '''ünï'' | ''日本''', '(-0,-0)', '{-1,0,5}', '[(0,0),(0,0)]', '(2,2),(1,1)', '((1,1),(2,2))',
    '((1,1),(2,2),(3,1))', '<(-0,-0),0.5>', '<ü>日本</ü>', '0/1', '[-5,5]', '(2024-06-01 00:00:00+02,)',
    '{[-10,-5),[0,1)}', '{NULL}', '{{NULL,NULL}}', '{NULL}', 'ok', '{NULL}', 2, '(0,"")');

  -- 6: numerics as large as they come (1,000 digits) and NaN in float columns.
  insert into public.all_types (id, c_float4, c_float8, c_numeric, c_numeric_typmod, c_text, c_json, c_jsonb,
    c_int4_arr, c_text_arr, c_interval, c_timestamptz)
  values (6, 'NaN', 'NaN', repeat('9', 1000)::numeric, -0.0001, repeat('long text ', 1000), '"NULL"', '"\\N"',
    array(select g from generate_series(1, 1000) g), array['NULL'], '178000000 years',
    '2000-01-01 00:00:00.000001+00');

  -- 7: more 1,000-digit numerics, tiny floats, and strings that look like NULL markers.
  insert into public.all_types (id, c_int4, c_float4, c_float8, c_numeric, c_text, c_varchar, c_bpchar,
    c_json, c_jsonb, c_text_arr, c_pair, c_interval)
  values (7, -1, 1.17549435e-38, 4.9e-324, ('-' || repeat('1', 500) || '.' || repeat('2', 500))::numeric,
    'NULL', E'\\N', 'NULL', '  [1,  "two" , {"three": 3}]  ', '[1, "two", {"three": 3}]', '{NULL,NULL}',
    '(,NULL)', '-178000000 years');

  -- 8: a tiny 1,000-digit fraction, the max float values, an ordinary row otherwise.
  insert into public.all_types (id, c_int2, c_int4, c_int8, c_float4, c_float8, c_numeric, c_numeric_typmod,
    c_money, c_text, c_bool, c_date, c_timestamp, c_timestamptz, c_uuid, c_jsonb, c_mood, c_mood_arr, c_posint, c_pair)
  values (8, -1, 2, -3, 3.4028235e+38, 1.7976931348623157e+308, ('0.' || repeat('0', 999) || '1')::numeric,
    -0.5, -0.01, '\N-null', null, '2000-02-29', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00',
    'c0ffee00-0000-4000-8000-00000000beef', '{"a": {"b": {"c": {"d": [[[]]]}}}}', 'happy', '{happy,happy,sad}', 3, null);
end
$fixture$;
