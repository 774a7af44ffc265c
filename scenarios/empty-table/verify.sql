select count(*) = 0 as ok from public.nothing;
