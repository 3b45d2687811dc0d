-- Sealed objects of the target role bound to their owner (issue: a row moved to
-- another account by SQL decrypted there). Until now a received document was
-- sealed with only its own id as associated data, and a transfer's PKCE verifier
-- and access token with "<transfer id>/verifier" and "<transfer id>/token", so
-- whoever holds the service's database connection could move a row to their
-- account (update ... set user_id) and have the service decrypt it for them.
-- Rows written from now on are bound to the owning account, a document also to
-- its transfer (object ids "transfer_document/<user>/<transfer>/<document>" and
-- "transfer/<user>/<transfer>/verifier|token", see transfer.DocumentObjectID).
--
-- The column says which binding a row's ciphertext carries, so every open uses
-- exactly the id it was sealed with and nothing tries one id after another:
-- 'legacy' the bare id as before, 'account' the owner binding. Existing rows are
-- 'legacy' (the default; a constant default adds the column without rewriting
-- the table). The default stays 'legacy' because a row that an older binary
-- writes during a rolling upgrade does not name the column and is sealed the old
-- way; this version always writes the column. Flipping a row back to 'legacy'
-- gains an attacker nothing: a ciphertext sealed with the account binding does
-- not open under the bare id.
--
-- Migrations run without the keyset, so they cannot re-seal. `pgo keys rewrap`
-- (and the worker's keys:rewrap task), target transfer_document_binding, moves
-- legacy documents to the account binding (transferdb.Store.ResealDocuments);
-- the partial index keeps finding the rest cheap once few are left. Legacy
-- secrets are not re-sealed: they live as long as their transfer (minutes) and
-- are dropped when it ends (Forget, Fail).
alter table transfer_document
    add column sealed_binding text not null default 'legacy' check (sealed_binding in ('legacy', 'account'));

create index transfer_document_legacy on transfer_document (id) where sealed_binding = 'legacy';

-- The binding of both sealed secrets of the row (verifier_sealed, token_sealed):
-- every statement that stores one of them stores this column with it.
alter table transfer
    add column secret_binding text not null default 'legacy' check (secret_binding in ('legacy', 'account'));
