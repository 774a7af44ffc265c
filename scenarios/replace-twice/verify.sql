select count(*) = 2500 as ok from public.products;
select exists (select 1 from pg_index i where i.indrelid = 'public.products'::regclass and i.indisprimary) as ok;
select not exists (select 1 from pg_class where relname like '%__rb_replace') as ok;
