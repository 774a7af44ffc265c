delete from public.products where id > 2500;
update public.products set price = price + 1 where id <= 10;
