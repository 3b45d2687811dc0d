-- A grant can end as superseded: the patient decided the same authorization
-- request again (a double submit of the consent screen) before its code was
-- redeemed. The browser follows the last decision, so the earlier grant, its
-- unused code and its export end at once instead of staying live until they
-- expire. The same request is known by the client's state parameter, kept as
-- its SHA-256 (authorize_state_hash; null for grants made before this).
alter table consent_grant add column authorize_state_hash bytea;
alter table consent_grant drop constraint consent_grant_state_check;
alter table consent_grant add constraint consent_grant_state_check
    check (state in ('active', 'used', 'withdrawn', 'refused', 'revoked', 'superseded'));
