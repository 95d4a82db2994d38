-- Issue 13: several DHIS2 destinations. A submission gets one delivery per destination it goes
-- to (its source's destination and every copy), each with its own payload when that
-- destination's mappings (instance_name) map the codes differently.
--
-- One row per destination, the claim's meeting point across replicas: a claim for destination X
-- locks X's row first (insert ... on conflict do update), so claims for X run one at a time and
-- each sees the others' committed leases; it then takes at most max_concurrent minus the
-- deliveries of X now running, and spends rate-limit tokens from this row's bucket. Settings
-- (max_concurrent, rate) come from each claimer's config, not from here: the row holds only
-- shared state.
create table destinations (
  name text primary key,
  -- Token bucket for the request rate limit: tokens left at refilled_at.
  tokens double precision not null default 0,
  refilled_at timestamptz not null default now(),
  created_at timestamptz not null default now()
);

-- Null: the submission's own payload and codes (the primary destination, and every delivery
-- made before this migration).
alter table deliveries
  add column payload jsonb,
  add column codes text[];

-- The claim of one destination: its due deliveries in run_at order. Without it, a destination
-- whose window is closed would leave its due backlog in deliveries_due_idx for every other
-- destination's claim to step over.
create index deliveries_due_dest_idx on deliveries (destination, run_at, id)
  where status in ('queued', 'retrying') and not held;

-- The claim's running count per destination needs no index of its own: it reads
-- deliveries_pending_key_idx (destination first, running rows included).
