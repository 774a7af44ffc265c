create table public.customers (id int primary key, name text, email text, balance numeric(12,2), updated_at timestamptz);
insert into public.customers select g, 'name ' || g, 'c' || g || '@example.com', g * 10, '2026-01-01' from generate_series(1, 2000) g;
