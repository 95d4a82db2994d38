-- Login attempts in flight. An attempt is reserved (pending + 1) before its password is
-- checked, in the same locked step that compares failures + pending with the limit, so 20
-- parallel guesses cannot all pass the check before the first failure is counted. The outcome
-- turns the reservation into a failure or releases it. pending_until is when the newest
-- reservation on the row goes stale: a process that died mid-login must not hold slots forever.
alter table login_throttle
  add column pending integer not null default 0,
  add column pending_until timestamptz;
