update public.customers set name = 'changed ' || id, balance = balance + 0.01, updated_at = now() where id % 10 = 0;
insert into public.customers select g, 'new ' || g, null, 0, now() from generate_series(2001, 2100) g;
