create table public.events (id bigint primary key, kind text not null, at timestamptz, payload jsonb);
insert into public.events
select g, (array['view','click','buy'])[1 + g % 3], timestamptz '2026-01-01' + g * interval '1 minute', jsonb_build_object('n', g)
from generate_series(1, 5000) g;
