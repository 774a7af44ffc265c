select count(*) = 2100 as ok from crm.customers;
select count(*) = 200 as ok from crm.customers where name like 'changed %';
select not exists (select 1 from pg_class where relname like '%__rb_upsert') as ok;
