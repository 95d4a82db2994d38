-- The user's token generation (users.token_generation) when a refresh token was issued. A
-- password reset bumps the generation and revokes the user's refresh tokens in one transaction,
-- but a refresh or a login that read the user before that commit can still insert a new refresh
-- token after it; its generation gives it away, and the refresh is refused. Null: issued before
-- this migration, judged by revocation alone as before.
alter table refresh_tokens add column token_generation integer;
