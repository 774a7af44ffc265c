select array_agg(attname::text order by attnum) = array['id','total','placed_at'] as ok from pg_attribute where attrelid = 'public.orders'::regclass and attnum > 0 and not attisdropped;
select count(*) = 4000 as ok from public.orders;
