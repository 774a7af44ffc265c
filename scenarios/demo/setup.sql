-- rb demo: an online shop (the source database of `rb demo`).
--
-- Idempotent: the schema, types and tables are created only if absent, and each table is filled
-- only while it is empty, so running this script twice changes nothing.
-- Deterministic: every value is derived from the generate_series value through
-- hashint8extended(g, seed) (a stable hash; one seed per attribute), never from random(), so two
-- runs produce byte-identical tables.
-- Fast: set-based generate_series inserts only, about 560k rows in total.
--
-- Size: `set rb.demo_scale = 0.01` before running the script scales every table (tests use a
-- small scale); unset means 1 (customers 50k, products 10k, orders 150k, order_items ~250k,
-- events 100k).
--
-- Run it as one script in one session (e.g. one simple-query call or `psql -f`); it contains no
-- VACUUM, so it also runs inside an implicit transaction.

create schema if not exists shop;

do $$
begin
  if to_regtype('shop.tier') is null then
    create type shop.tier as enum ('bronze', 'silver', 'gold');
  end if;
  if to_regtype('shop.order_status') is null then
    create type shop.order_status as enum ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded');
  end if;
end
$$;

create table if not exists shop.customers (
  id          uuid primary key default gen_random_uuid(),
  name        text not null,
  email       text,
  country     char(2) not null,
  created_at  timestamptz not null,
  tags        text[],
  loyalty     shop.tier
);

create table if not exists shop.products (
  id          bigint primary key,
  sku         text not null unique,
  title       text not null,
  price       numeric(10,2) not null,
  dimensions  jsonb,
  active      boolean not null
);

create table if not exists shop.orders (
  id                bigint generated always as identity primary key,
  customer_id       uuid not null,
  status            shop.order_status not null,
  total             numeric(12,2) not null,
  placed_at         timestamptz not null,
  shipped_at        timestamptz,
  shipping_address  text
);

create table if not exists shop.order_items (
  order_id    bigint not null,
  line_no     int not null,
  product_id  bigint not null,
  quantity    int not null,
  unit_price  numeric(10,2) not null,
  discount    real not null,
  primary key (order_id, line_no)
);

create table if not exists shop.events (
  id           bigint primary key,
  occurred_at  timestamptz not null,
  kind         text not null,
  payload      jsonb,
  ip           inet,
  session      uuid
);

-- customers: ids are md5('customer:' || n)::uuid so orders can reference them without a join.
insert into shop.customers (id, name, email, country, created_at, tags, loyalty)
select
  md5('customer:' || g)::uuid,
  (array['José', 'Zoë', 'François', 'Björn', 'Søren', 'Łucja', 'Đorđe', 'İlknur', 'Nguyễn Văn',
         'Александр', 'محمد', '太郎', '美咲', '민준', 'Ana 🌸', 'Chloé', 'Siobhán', 'Ngozi',
         'Mary-Jane', 'O''Neil', 'Renée', 'Jürgen', 'Zoltán', 'Ñuño'])[1 + abs(hashint8extended(g, 1) % 24)]
  || ' ' ||
  (array['García', 'Müller', 'Østergaard', 'Dupont', 'Nowak', 'Smith', 'O''Brien', 'D''Angelo',
         '田中', '王', '김', 'Иванова', 'Öztürk', 'Kowalczyk', 'Silva 🚀', 'van der Berg',
         'Ó Súilleabháin', 'Lefèvre', 'Ng', 'Ångström'])[1 + abs(hashint8extended(g, 2) % 20)],
  case when g % 17 = 0 then null
       when g % 5 = 0 then 'customer' || g || '+shop@example.' || (array['com', 'de', 'fr', 'jp'])[1 + g % 4]
       else 'customer' || g || '@example.com' end,
  (array['US', 'DE', 'FR', 'GB', 'JP', 'KR', 'CN', 'BR', 'PL', 'SE', 'NO', 'DK', 'ES', 'IT', 'NL',
         'TR', 'VN', 'NG', 'EG', 'RU'])[1 + abs(hashint8extended(g, 3) % 20)],
  timestamptz '2019-01-01 00:00:00+00'
    + abs(hashint8extended(g, 4) % 189216000) * interval '1 second'
    + abs(hashint8extended(g, 5) % 1000000) * interval '1 microsecond',
  case abs(hashint8extended(g, 6) % 6)
    when 0 then null
    when 1 then '{}'::text[]
    when 2 then array['vip']
    when 3 then array['newsletter', 'b2b']
    when 4 then array['has "quotes"', 'comma,separated', 'back\slash', '{braces}']
    else array['early-adopter', null]
  end,
  case abs(hashint8extended(g, 7) % 10)
    when 0 then null
    when 1 then 'gold'::shop.tier
    when 2 then 'silver'
    when 3 then 'silver'
    else 'bronze'
  end
from (select coalesce(nullif(current_setting('rb.demo_scale', true), '')::numeric, 1) as scale) s,
     generate_series(1, greatest(1, round(50000 * s.scale))::int) g
where not exists (select 1 from shop.customers);

insert into shop.products (id, sku, title, price, dimensions, active)
select
  g,
  'SKU-' || lpad(g::text, 6, '0'),
  (array['Classic', 'Deluxe', 'Eco', 'Mini', 'Pro', 'Vintage', 'Crème', 'Smart', '特選', 'Ultra'])[1 + abs(hashint8extended(g, 1) % 10)]
  || ' ' ||
  (array['mug ☕', 'teapot', 'café table', 'lamp 💡', 'backpack', 'notebook', 'umbrella ☂',
         'headphones', '寿司 plate', 'chair', 'jacket', 'bike bell 🚲'])[1 + abs(hashint8extended(g, 2) % 12)]
  || ' #' || g,
  round((100 + abs(hashint8extended(g, 3) % 99900)) / 100.0, 2),
  case when g % 11 = 0 then null
       else jsonb_build_object(
         'w', round(abs(hashint8extended(g, 4) % 1000) / 10.0, 1),
         'h', round(abs(hashint8extended(g, 5) % 1000) / 10.0, 1),
         'd', round(abs(hashint8extended(g, 6) % 1000) / 10.0, 1),
         'unit', 'cm',
         'weight_g', abs(hashint8extended(g, 7) % 20000),
         'fragile', g % 3 = 0) end,
  g % 7 <> 0
from (select coalesce(nullif(current_setting('rb.demo_scale', true), '')::numeric, 1) as scale) s,
     generate_series(1, greatest(1, round(10000 * s.scale))::int) g
where not exists (select 1 from shop.products);

-- order_items before orders: each order's total is the sum of its lines.
-- Lines per order: 1 (7/12), 2 (3/12), 3 (1/12), 4 (1/12): about 1.67 on average.
insert into shop.order_items (order_id, line_no, product_id, quantity, unit_price, discount)
select
  o.g,
  l.n,
  p.id,
  case when abs(hashint8extended(o.g * 8 + l.n, 2) % 20) = 0 then 10 + abs(hashint8extended(o.g * 8 + l.n, 3) % 41)
       else 1 + abs(hashint8extended(o.g * 8 + l.n, 3) % 5) end,
  p.price,
  case abs(hashint8extended(o.g * 8 + l.n, 4) % 10)
    when 6 then 0.05::real
    when 7 then 0.1::real
    when 8 then 0.15::real
    when 9 then (1 / 3.0)::real
    else 0::real
  end
from (select coalesce(nullif(current_setting('rb.demo_scale', true), '')::numeric, 1) as scale) s
cross join lateral generate_series(1, greatest(1, round(150000 * s.scale))::int) o(g)
cross join lateral generate_series(1, 1 + (abs(hashint8extended(o.g, 1) % 12) >= 7)::int
                                       + (abs(hashint8extended(o.g, 1) % 12) >= 10)::int
                                       + (abs(hashint8extended(o.g, 1) % 12) = 11)::int) l(n)
join shop.products p
  on p.id = 1 + abs(hashint8extended(o.g * 8 + l.n, 1) % greatest(1, round(10000 * s.scale))::int)
where not exists (select 1 from shop.order_items);

insert into shop.orders (id, customer_id, status, total, placed_at, shipped_at, shipping_address)
overriding system value
select
  g,
  md5('customer:' || (1 + abs(hashint8extended(g, 1) % greatest(1, round(50000 * scale))::int)))::uuid,
  status,
  coalesce(t.total, 0),
  placed_at,
  case when status in ('shipped', 'delivered', 'refunded')
       then placed_at + (1 + abs(hashint8extended(g, 4) % 240)) * interval '1 hour'
            + abs(hashint8extended(g, 5) % 3600000000) * interval '1 microsecond' end,
  case when g % 29 = 0 then null
       else (1 + abs(hashint8extended(g, 6) % 250)) || ' '
         || (array['Rue de l''Église', '"The Old Mill" Lane', 'Hauptstraße', 'Calle Mayor',
                   'Baker St.\Flat 2', 'ul. Świętokrzyska', '中央通り', 'Avenida Paulista',
                   E'Main St.\tSuite 5', 'Ørstedsvej'])[1 + abs(hashint8extended(g, 7) % 10)]
         || E'\n'
         || lpad(abs(hashint8extended(g, 8) % 100000)::text, 5, '0') || ' '
         || (array['Paris', 'Springfield', 'München', 'Madrid', 'London', 'Warszawa', '東京',
                   'São Paulo', 'Zürich', 'København'])[1 + abs(hashint8extended(g, 7) % 10)]
         || case when g % 3 = 0 then E'\r\nattn: "receiving"' else '' end end
from (select coalesce(nullif(current_setting('rb.demo_scale', true), '')::numeric, 1) as scale) s
cross join lateral generate_series(1, greatest(1, round(150000 * s.scale))::int) g
cross join lateral (select
  (case abs(hashint8extended(g, 2) % 20)
     when 0 then 'pending' when 1 then 'pending' when 2 then 'paid' when 3 then 'paid'
     when 4 then 'shipped' when 5 then 'shipped' when 6 then 'shipped' when 7 then 'shipped'
     when 18 then 'cancelled' when 19 then 'refunded' else 'delivered' end)::shop.order_status as status,
  timestamptz '2021-01-01 00:00:00+00'
    + abs(hashint8extended(g, 3) % 126144000) * interval '1 second'
    + abs(hashint8extended(g, 9) % 1000000) * interval '1 microsecond' as placed_at) a
left join (select order_id, sum(round(quantity * unit_price * (1 - discount::numeric), 2)) as total
           from shop.order_items group by order_id) t on t.order_id = g
where not exists (select 1 from shop.orders);

-- The identity must continue after the explicit ids above.
do $$
begin
  perform setval(pg_get_serial_sequence('shop.orders', 'id'), greatest(1, (select coalesce(max(id), 0) from shop.orders)),
                 exists (select 1 from shop.orders));
end
$$;

insert into shop.events (id, occurred_at, kind, payload, ip, session)
select
  g,
  timestamptz '2024-01-01 00:00:00+00'
    + (g * 300) * interval '1 second'
    + abs(hashint8extended(g, 1) % 300000000) * interval '1 microsecond',
  k.kind,
  case when g % 13 = 0 then null
       when k.kind = 'search' then jsonb_build_object(
         'query', (array['café', '寿司', 'emoji 🎉', 'with "quotes"', E'line\nbreak', 'back\slash', 'tab	here', ''])[1 + abs(hashint8extended(g, 3) % 8)],
         'results', abs(hashint8extended(g, 4) % 500),
         'filters', jsonb_build_object('price_max', round(abs(hashint8extended(g, 5) % 100000) / 100.0, 2), 'in_stock', g % 2 = 0))
       when k.kind = 'add_to_cart' then jsonb_build_object(
         'product_id', 1 + abs(hashint8extended(g, 3) % 10000),
         'quantity', 1 + abs(hashint8extended(g, 4) % 3),
         'price', round(abs(hashint8extended(g, 5) % 99900) / 100.0 + 1, 2))
       when k.kind = 'checkout' then jsonb_build_object(
         'items', jsonb_build_array(1 + abs(hashint8extended(g, 3) % 10000), 1 + abs(hashint8extended(g, 4) % 10000)),
         'coupon', case when g % 4 = 0 then 'SUMMER-25' end,
         'big', 123456789012345678901234567890.123456789,
         'tiny', 1e-20)
       else jsonb_build_object(
         'path', '/products/' || (1 + abs(hashint8extended(g, 3) % 10000)),
         'referrer', (array['https://example.com/?q=a&b=c', 'newsletter', 'ünïcödé.example', null])[1 + abs(hashint8extended(g, 4) % 4)],
         'ua', jsonb_build_object('mobile', g % 3 = 0, 'lang', (array['en-US', 'de-DE', 'ja-JP', 'pt-BR'])[1 + g % 4]))
  end,
  case abs(hashint8extended(g, 6) % 10)
    when 0 then null
    when 1 then inet '2001:db8::' + abs(hashint8extended(g, 7) % 1000000000000)
    when 2 then set_masklen(inet '10.0.0.0' + abs(hashint8extended(g, 7) % 16777216), 24)
    else inet '0.0.0.0' + abs(hashint8extended(g, 7) % 4294967296)
  end,
  case when g % 23 = 0 then null else md5('session:' || (g / 7))::uuid end
from (select coalesce(nullif(current_setting('rb.demo_scale', true), '')::numeric, 1) as scale) s
cross join lateral generate_series(1, greatest(1, round(100000 * s.scale))::int) g
cross join lateral (select (array['page_view', 'page_view', 'page_view', 'search', 'add_to_cart', 'checkout', 'login'])[1 + abs(hashint8extended(g, 2) % 7)] as kind) k
where not exists (select 1 from shop.events);

-- Fresh statistics: rb's planner reads row and size estimates from pg_class.
analyze shop.customers, shop.products, shop.orders, shop.order_items, shop.events;
