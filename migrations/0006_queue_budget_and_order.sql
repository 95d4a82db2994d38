-- Issue 10: each submission's retry budget is fixed when it is accepted, and delivery is FIFO
-- per ordering key.

-- Attempts allowed (first delivery included) since enqueue or the last manual requeue, set at
-- enqueue from server.max_retries + 1, as River and graphile-worker store max_attempts: lowering
-- the setting later does not kill work already accepted. SQL cannot read the config, so rows
-- from before this migration get 9, the default max_retries (8) + 1; the application always
-- writes the column itself. The upper bound follows max_retries' own (0–1000).
alter table submissions
  add column max_attempts integer not null default 9
    check (max_attempts between 1 and 1001);

-- The ordering key: a submission is not claimed while an older one with the same key is still
-- pending, so a retried older submission cannot overwrite a newer one in DHIS2. DHIS2 keys a
-- value by (data element, period, org unit, category option combo, attribute option combo);
-- org unit and period are per submission, the rest per value (the attribute option combo can
-- differ between values, a data element can sit in several data sets), so two submissions that
-- can touch the same value always share (org unit, period): that pair is the key. The period is
-- written the one way DHIS2 stores it: 2024-01 and 202401, 2024-01-05 and 20240105, 2024W1 and
-- 2024W01 are the same period. Immutable, so the index below can use it; the claim calls it
-- exactly as the index does.
create function submission_ordering_key(org_unit text, period text) returns text
  language sql immutable parallel safe
  as $$
    select org_unit || '|' ||
      regexp_replace(regexp_replace(period, '^(\d{4})-(\d{2})-?(\d{2})?$', '\1\2\3'),
                     'W0(\d)$', 'W\1')
  $$;

-- The claim's NOT EXISTS: is there an older (smaller id) pending submission with this key?
-- Partial on the pending statuses, so it holds only the work in the queue.
create index submissions_pending_key_idx
  on submissions (submission_ordering_key(org_unit, period), id)
  where status in ('queued', 'running', 'retrying');
