select /* the table travelled as text COPY */ format = 'text' as ok
from (select streams -> 0 ->> 'format' as format from _rb.runs order by finished_at desc limit 1) r;
select /* dates kept their day and month */ min(d) = date '2026-03-05' as ok from public.settings_probe;
