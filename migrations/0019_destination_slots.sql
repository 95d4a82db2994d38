-- Issue 18: a worker may claim deliveries ahead of sending them (a local queue, as
-- graphile-worker's), so its running deliveries no longer tell how many requests it has in
-- flight. Such a worker holds slots of the destination's max_concurrent instead: this row says
-- it sends at most `slots` requests at once until `until` (renewed by each of its claims, like a
-- lease). A claim ahead counts the live slots of the other workers plus the running deliveries
-- of workers without a live row (a worker that claims only what it sends, or one whose row
-- expired after a crash), so the limit holds across replicas with either kind of claim. Rows
-- are only written while the destination's row (0013) is locked.
create table destination_slots (
  destination text not null,
  worker text not null,
  slots integer not null check (slots >= 0),
  until timestamptz not null,
  primary key (destination, worker)
);
