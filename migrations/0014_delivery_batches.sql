-- Issue 13 part 2: batching. One claim may take many deliveries of one destination, kind and
-- batch key (aggregate: the data set, so one dataValueSets import keeps its `dataSet` header)
-- and send them as one import; each delivery still gets its own outcome and attempt row.

-- Set at enqueue by the kind: deliveries with the same key may share an import (null: never
-- combined); `weight` is what a batch's size limit counts (aggregate: data values).
alter table deliveries
  add column batch_key text,
  add column weight integer not null default 1 check (weight >= 1);

-- Pending aggregate deliveries from before this migration join batches like new ones.
update deliveries d
set batch_key = s.payload ->> 'dataSet',
    weight = greatest(1, coalesce(jsonb_array_length(s.payload -> 'dataValues'), 1))
from submissions s
where s.id = d.submission_id and d.kind = 'aggregate'
  and d.status in ('queued', 'running', 'retrying')
  and jsonb_typeof(s.payload -> 'dataValues') = 'array';

-- The batch claim's candidates after its head: due, not held, same destination, kind and key,
-- in run_at order.
create index deliveries_batch_due_idx on deliveries (destination, kind, batch_key, run_at, id)
  where status in ('queued', 'retrying') and not held;

-- Newer deliveries of a key that wrote something (an old retry must not overwrite it).
create index deliveries_written_key_idx on deliveries (destination, ordering_key, id)
  where status in ('delivered', 'partial');

-- One row per HTTP exchange that carried several deliveries (or one, with batching on); a split
-- batch's halves name it as their parent.
create table delivery_batches (
  id uuid primary key,
  parent_id uuid references delivery_batches (id) on delete set null,
  destination text not null,
  kind text not null,
  batch_key text,
  worker text not null,
  deliveries integer not null,
  value_count integer not null,
  started_at timestamptz not null,
  finished_at timestamptz not null,
  duration_ms integer not null,
  http_status integer,
  dhis2_status text,
  imported integer,
  updated integer,
  ignored integer,
  deleted integer,
  -- attributed: every delivery got its own outcome from the reply; split: the reply could not be
  -- attributed, the halves were sent again; failed: nothing reached DHIS2 or it failed as a
  -- whole (down, overloaded, credentials), every delivery retries; none: nothing left to send.
  result text not null check (result in ('attributed', 'split', 'failed', 'none')),
  error text
);
create index delivery_batches_finished_idx on delivery_batches (finished_at);
create index delivery_batches_parent_idx on delivery_batches (parent_id) where parent_id is not null;

-- Which batch an attempt rode in (the one whose reply decided it); null without batching.
alter table delivery_attempts add column batch_id uuid references delivery_batches (id)
  on delete set null;
create index delivery_attempts_batch_idx on delivery_attempts (batch_id) where batch_id is not null;
