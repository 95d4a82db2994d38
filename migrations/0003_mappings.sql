-- DHIS2 mappings (issue 4): a source system's code → DHIS2 data element + category option combo
-- (+ attribute option combo), or a source org unit code → DHIS2 org unit. Columns keep the old
-- Go service's names; '' (never NULL) means "none" so comparisons need no coalesce.
create table dhis2_mappings (
  id bigint generated always as identity primary key,
  uid text not null unique check (uid ~ '^[a-zA-Z][a-zA-Z0-9]{10}$'),
  code text not null,
  what text not null default 'de' check (what in ('de', 'ou')),
  name text not null default '',
  description text not null default '',
  dataset text not null default '',
  dataelement text not null default '',
  category_option_combo text not null default '',
  attribute_option_combo text not null default '',
  category_option text not null default '',
  category_combo text not null default '',
  -- The old importer wrote '' when these columns were missing, which hid the rows from the
  -- submission path (it looks up 'default'); the import now fills in 'default' itself.
  instance_name text not null default 'default',
  source_name text not null default 'default',
  source_orgunit text not null default '',
  dest_orgunit text not null default '',
  created timestamptz not null default now(),
  updated timestamptz not null default now(),
  -- The old constraint's name, so scripts written against the old schema keep working.
  constraint unique_code_source_instance_what unique (code, source_name, instance_name, what),
  check (what <> 'de' or dataelement <> ''),
  check (what <> 'ou' or (source_orgunit <> '' and dest_orgunit <> ''))
);

-- One source org unit code must lead to one DHIS2 org unit: the old table allowed two `ou` rows
-- with different codes and the same source_orgunit, and the look-up then picked one at random.
-- Also the index behind the submission path's org unit look-up.
create unique index dhis2_mappings_ou_key
  on dhis2_mappings (source_name, instance_name, source_orgunit) where what = 'ou';

-- List order, export order, the `source`/`instance_name` filters and an import's replace scope.
-- (The submission path's code look-up uses the unique constraint's index, code first.)
create index dhis2_mappings_scope_idx on dhis2_mappings (source_name, instance_name, what, code);
-- The other exact-match filters of GET /mappings. `name` is a substring search with no index
-- (pg_trgm is not in the embedded PGlite): a page and its count over 100,000 rows took 155 ms
-- on a loaded 2-CPU machine (scripts/bench_mappings.ts), fine for an admin's search box.
create index dhis2_mappings_dataelement_idx on dhis2_mappings (dataelement);
create index dhis2_mappings_dataset_idx on dhis2_mappings (dataset);
create index dhis2_mappings_coc_idx on dhis2_mappings (category_option_combo);
create index dhis2_mappings_source_orgunit_idx on dhis2_mappings (source_orgunit);
create index dhis2_mappings_dest_orgunit_idx on dhis2_mappings (dest_orgunit);

-- One row whose version moves with every change to dhis2_mappings, in the same transaction.
-- Every replica's in-memory cache polls it (a primary-key read) and reloads when it moved;
-- writers lock it first, which also serialises mapping writes (an import's diff stays true
-- until it commits). NOTIFY is sent too, but the embedded PGlite delivers it to no other
-- connection, so polling alone must be, and is, enough.
create table dhis2_mapping_version (
  id boolean primary key default true check (id),
  version bigint not null default 0,
  changed timestamptz not null default now()
);
insert into dhis2_mapping_version default values;

-- A statement trigger, so that a change made with plain SQL (psql, a restore) is seen as well.
create function dhis2_mappings_changed() returns trigger language plpgsql as $$
declare
  v bigint;
begin
  update dhis2_mapping_version set version = version + 1, changed = now() returning version into v;
  perform pg_notify('dhis2gw_mappings', v::text);
  return null;
end
$$;

create trigger dhis2_mappings_changed
  after insert or update or delete or truncate on dhis2_mappings
  for each statement execute function dhis2_mappings_changed();
