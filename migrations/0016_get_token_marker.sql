-- API tokens handed out by the old API's POST /api/v2/users/getToken (src/auth/legacy_token.ts).
-- An old client calls getToken with its password at every start and keeps only the newest
-- token: each such call revokes the user's earlier getToken tokens, never the tokens made
-- through /api/v3 (an integration's named token must not die because a script logged in).
alter table api_tokens add column from_get_token boolean not null default false;
