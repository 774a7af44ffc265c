create schema "My Schema";
create table "My Schema"."Order ""Items"" ü" ("Id" int primary key, "Line No" int, "unit price $" numeric(8,2), "naïve column" text, "select" text, "MiXeD" boolean);
insert into "My Schema"."Order ""Items"" ü" select g, g % 5, g / 3.0, 'ünïcødé ' || g || ' 🚀', 'kw', g % 2 = 0 from generate_series(1, 1500) g;
