select count(*) = 1500 as ok from "Dest Schema"."Order ""Items"" ü";
