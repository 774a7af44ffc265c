create table public.products (id int primary key, sku text unique, price numeric(10,2), active boolean default true);
create index products_price_idx on public.products (price);
insert into public.products select g, 'SKU-' || g, (g % 500) + 0.99, g % 7 <> 0 from generate_series(1, 3000) g;
