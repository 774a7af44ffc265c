do $$ begin
  execute format('alter database %I set datestyle = %L', current_database(), 'SQL, DMY');
  execute format('alter database %I set intervalstyle = %L', current_database(), 'iso_8601');
  execute format('alter database %I set timezone = %L', current_database(), 'Asia/Tokyo');
end $$;
