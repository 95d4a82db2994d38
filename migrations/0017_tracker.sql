-- Issue 17: tracker submissions (events, enrollments, tracked entities) through the same queue.
-- A tracker submission is a `submissions` row of kind 'tracker' whose payload is the flat DHIS2
-- tracker bundle with every UID set at intake; its one delivery has kind 'tracker'. These two
-- tables are src/tracker/'s own.

-- One row per object of a tracker submission, in the payload's flat order (tracked entities,
-- enrollments, events, relationships). Kept when the payload is purged (personal data): the UIDs,
-- where each object was in the caller's request, and what it refers to. The ordering check and
-- the read-back after a lost job use it; the console lists it.
create table tracker_objects (
  submission_id bigint not null references submissions (id) on delete cascade,
  position integer not null,
  -- TRACKED_ENTITY | ENROLLMENT | EVENT | RELATIONSHIP, as DHIS2's ImportReport names them.
  type text not null,
  uid text not null,
  -- The JSON path of the object in the request as received ($.trackedEntities[0].enrollments[1]).
  path text not null,
  -- The UID was made by the gateway at intake (the caller sent none).
  generated boolean not null default false,
  -- The tracked entity and enrollment it belongs to, when known.
  tracked_entity text,
  enrollment text,
  primary key (submission_id, position)
);

-- "Does an earlier, still undelivered submission create this UID?" (the ordering check).
create index tracker_objects_uid_idx on tracker_objects (uid, submission_id);

-- An async import job DHIS2 accepted for a delivery: stored the moment DHIS2 answers, before it
-- is followed, so a gateway restarted mid-job follows the same job instead of sending again.
-- `attempt` is the delivery attempt that the job's report will be recorded as.
create table tracker_jobs (
  delivery_id bigint not null references deliveries (id) on delete cascade,
  job_id text not null,
  attempt integer not null,
  posted_at timestamptz not null default now(),
  -- null while followed; then report | landed (unknown job, read back: all there) | lost
  -- (unknown job, read back: missing objects resent) | timeout.
  finished_at timestamptz,
  result text,
  primary key (delivery_id, job_id)
);

create index tracker_jobs_open_idx on tracker_jobs (delivery_id) where finished_at is null;

-- The tracker payload purge (tracker.payload_retention_days): delivered tracker submissions
-- whose payloads have not been purged yet.
alter table submissions add column payload_purged_at timestamptz;
create index submissions_tracker_purge_idx on submissions (finished_at)
  where kind = 'tracker' and payload_purged_at is null;

-- Tracker mappings: a source system's codes for programs, stages, data elements, attributes and
-- option values, each scoped the way DHIS2 scopes them (POST /api/v3/events and
-- /api/v3/trackedEntities). Org units use the aggregate `ou` mappings. Apart from
-- dhis2_mappings, whose `what` and columns describe aggregate data.
--   kind                 scope                      code             uid
--   program              ''                         program code     program UID
--   tracked_entity_type  ''                         type code        tracked entity type UID
--   stage                program UID                stage code       program stage UID
--   data_element         program stage UID          element code     data element UID
--   attribute            program UID or ''          attribute code   attribute UID
--   option               data element/attribute UID source value     DHIS2 option code
create table tracker_mappings (
  id bigint generated always as identity primary key,
  source_name text not null default 'default',
  kind text not null check (
    kind in ('program', 'tracked_entity_type', 'stage', 'data_element', 'attribute', 'option')
  ),
  scope text not null default '',
  code text not null check (length(code) between 1 and 255),
  uid text not null check (length(uid) between 1 and 255),
  updated timestamptz not null default now(),
  unique (source_name, kind, scope, code)
);

-- The logs list's `kind` filter, served like the other filters (equality, date range, order).
create index submissions_kind_created_idx on submissions (kind, created_at, id);
