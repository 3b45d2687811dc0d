-- Ref keys are keyed (issue 15): ref_key is now HMAC-SHA256 under a key derived
-- from the keyset (vault RefKeys), no longer an unkeyed SHA-256 from which a FHIR
-- id such as a BSN can be recovered by enumeration. ref_key_id is the keyset key
-- id whose ref key made it, so that the rewrap task finds the rows to re-key after
-- a rotation; null marks a row stored before this migration (unkeyed SHA-256),
-- which the rewrap task re-keys too (the FHIR id is inside the sealed row, so
-- this cannot be done in SQL).
alter table dossier_resource
    add column ref_key_id bigint check (ref_key_id between 0 and 4294967295);
