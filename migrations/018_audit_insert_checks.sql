-- Fewer CHECK constraints to prepare per audit insert (issue 16). At the start of
-- every INSERT statement PostgreSQL rebuilds the target table's CHECK
-- constraints from their stored node trees and plans them (ExecConstraints:
-- stringToNode, then ExecPrepareExpr). For audit_log's eleven that is ~8 KB of
-- node text per statement; on the token endpoint, whose request appends two
-- records, it was 11 % of the PostgreSQL backends' CPU (perf, `pgo bench token`).
--
-- Four of them can no longer fail, so they go:
--   audit_log_format, audit_log_link_check, audit_log_prev_hash_check and
--   audit_log_hash_check.
-- They describe the link columns of audit_log. Since migration 016 a new record
-- must come with its own MAC and with link, prev_hash and hash null (the
-- trigger audit_log_link raises otherwise, for every role), and no row of
-- audit_log can be updated (audit_log_append_only raises on every UPDATE), so
-- those columns keep what they had when the row was written: null for every
-- record since migration 014, and the values checked by these constraints
-- when they were written for the records before it. Links now live in
-- audit_link, whose own checks stay. Dropping them on audit_log drops them on
-- its partitions too.
alter table audit_log
    drop constraint audit_log_format,
    drop constraint audit_log_link_check,
    drop constraint audit_log_prev_hash_check,
    drop constraint audit_log_hash_check;
