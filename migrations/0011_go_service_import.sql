-- Issue 12, part C: what `dhis2gw import-go-service --apply` brought over from the old Go
-- service's tables, old id -> dhis2gw id per kind of row, so that running it again adds only
-- rows it has not imported before, and `serve` stops pointing at the import once one was made.
-- (dhis2gw's own tables live in schema dhis2gw, set by the connection's search_path; the old
-- service's stay in public, untouched.)
create table go_service_imports (
  kind text not null check (kind in ('user', 'token', 'mapping', 'submission')),
  old_id bigint not null,
  new_id bigint not null,
  imported_at timestamptz not null default now(),
  primary key (kind, old_id)
);
