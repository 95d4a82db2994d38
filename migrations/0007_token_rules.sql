-- Issue 10, item 5: stricter credentials.

-- Bumped by every password change or reset and by a deactivation. Access tokens carry the value
-- they were issued with (claim `gen`) and are refused once it differs: unlike the old comparison
-- of whole seconds (iat < password_changed), a token issued in the same second as the change
-- stops working too, while the login made right after it gets the new value and works.
alter table users add column token_generation integer not null default 0;

-- When the login that started this refresh-token family checked the password. Carried into
-- every access token of the family (claim `auth_time`) so "logged in less than 5 minutes ago"
-- survives a refresh and does not restart with it. Null for families started before this.
alter table refresh_tokens add column auth_time timestamptz;

-- Every API token expires. Tokens created before this had none (or any date): they now expire
-- 365 days from the upgrade, the default of auth.token_max_lifetime_days; the gateway shortens
-- them further at start if that setting is lower (src/auth/service.ts).
update api_tokens set expires = now() + interval '365 days'
where expires is null or expires > now() + interval '365 days';
alter table api_tokens alter column expires set not null;
