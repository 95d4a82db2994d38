-- Issue 18: the request log's plain (username, at) index (0001) has had no reader since 0012
-- made the username filter case-insensitive (`lower(username) = lower($1)`, served by
-- request_log_lower_username_at_idx). Every API request still paid for an entry in it.
drop index if exists request_log_username_at_idx;
