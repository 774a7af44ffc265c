-- Servers whose defaults disagree: the source prints dates month-first and intervals in SQL
-- standard style, floats with few digits, timestamps in New York time; the destination reads
-- dates day-first in Tokyo time. A composite column makes the table use text COPY, where these
-- settings decide how every value is printed and parsed.
do $$ begin
  execute format('alter database %I set datestyle = %L', current_database(), 'SQL, MDY');
  execute format('alter database %I set intervalstyle = %L', current_database(), 'sql_standard');
  execute format('alter database %I set extra_float_digits = %L', current_database(), '-3');
  execute format('alter database %I set timezone = %L', current_database(), 'America/New_York');
end $$;
create type public.pt as (x int, label text);
create table public.settings_probe (
  id int primary key,
  d date,
  ts timestamp,
  tstz timestamptz,
  iv interval,
  f8 double precision,
  f4 real,
  m money,
  p public.pt
);
insert into public.settings_probe
select g,
       date '2026-03-04' + g,
       timestamp '2026-03-04 05:06:07.123456' + g * interval '1 day 1 hour',
       timestamptz '2026-03-04 05:06:07.654321+00' + g * interval '7 hours',
       make_interval(years => g % 3, months => g % 11, days => g, hours => g % 24, secs => g / 7.0),
       pi() * g / 3,
       (1.0 / (g + 3))::real,
       (g * 12.34)::numeric::money,
       row(g, 'p' || g)::public.pt
from generate_series(1, 500) g;
