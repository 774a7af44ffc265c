create table public.orders (id bigint primary key, customer_id int, total numeric(12,2), secret text, notes text, placed_at timestamptz);
insert into public.orders select g, g % 97, g * 3.25, 'secret-' || g, 'note ' || g, '2026-02-01'::timestamptz + g * interval '1 second' from generate_series(1, 4000) g;
