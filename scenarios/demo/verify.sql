/* Runs against the destination (rb_demo_dest) after the demo pipeline: every query returns one
   row with one column, ok = true; the comment after `select` names the check. Value-for-value
   equality with the source is checked by engine/verify (compareTables); these checks hold for a
   faithful copy at any `rb.demo_scale`. */

select /* all five tables arrived with rows */
       (select count(*) from shop.customers) > 0 and (select count(*) from shop.products) > 0
       and (select count(*) from shop.orders) > 0 and (select count(*) from shop.order_items) > 0
       and (select count(*) from shop.events) > 0 as ok;

select /* enum columns keep their enum types and labels */
       (select format_type(atttypid, atttypmod) from pg_attribute
         where attrelid = 'shop.customers'::regclass and attname = 'loyalty') = 'shop.tier'
       and (select format_type(atttypid, atttypmod) from pg_attribute
             where attrelid = 'shop.orders'::regclass and attname = 'status') = 'shop.order_status'
       and enum_range(null::shop.order_status)::text = '{pending,paid,shipped,delivered,cancelled,refunded}' as ok;

select /* every order belongs to a customer */
       not exists (select 1 from shop.orders o where not exists (select 1 from shop.customers c where c.id = o.customer_id)) as ok;

select /* every order total equals the sum of its lines */
       not exists (select 1 from shop.orders o
                   left join (select order_id, sum(round(quantity * unit_price * (1 - discount::numeric), 2)) as s
                              from shop.order_items group by order_id) i on i.order_id = o.id
                   where coalesce(i.s, 0) <> o.total) as ok;

select /* shipped_at is set exactly for shipped, delivered and refunded orders */
       not exists (select 1 from shop.orders
                   where (shipped_at is not null) <> (status in ('shipped', 'delivered', 'refunded'))) as ok;

select /* unicode names (accents, CJK, emoji) and NULL emails survived */
       exists (select 1 from shop.customers where name ~ '[éöøłđ]')
       and exists (select 1 from shop.customers where name ~ '[\u3040-\u9fff]')
       and exists (select 1 from shop.customers where name ~ '[\U0001F300-\U0001FAFF]')
       and exists (select 1 from shop.customers where email is null) as ok;

select /* array tags: NULL arrays, empty arrays, NULL elements, quotes and backslashes */
       exists (select 1 from shop.customers where tags is null)
       and exists (select 1 from shop.customers where tags = '{}')
       and exists (select 1 from shop.customers where tags = array['early-adopter', null])
       and exists (select 1 from shop.customers where tags = array['has "quotes"', 'comma,separated', 'back\slash', '{braces}']) as ok;

select /* addresses with newlines, CRLF, tabs, quotes and backslashes survived */
       exists (select 1 from shop.orders where shipping_address like E'%\r\nattn: "receiving"')
       and exists (select 1 from shop.orders where shipping_address like E'%Main St.\tSuite 5%')
       and exists (select 1 from shop.orders where strpos(shipping_address, 'Baker St.\Flat 2') > 0)
       and exists (select 1 from shop.orders where shipping_address like '%Rue de l''Église%') as ok;

select /* events: jsonb payloads, IPv4 and IPv6, NULL sessions */
       (select count(distinct family(ip)) from shop.events) = 2
       and exists (select 1 from shop.events where payload ? 'big' and (payload->>'big')::numeric = 123456789012345678901234567890.123456789)
       and exists (select 1 from shop.events where session is null)
       and exists (select 1 from shop.events where payload is null) as ok;
