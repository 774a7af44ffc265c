create table public.nothing (id int primary key, v text);
