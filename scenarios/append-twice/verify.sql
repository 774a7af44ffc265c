select count(*) = 10000 as ok from raw.events;
select count(distinct id) = 5000 and bool_and(c = 2) as ok from (select id, count(*) c from raw.events group by id) x;
