-- The consent screen previews the first rows of each category in import order
-- (dossier.PreviewRows). With seq in the index, each category's first rows are
-- read from the index in order, however many rows the category holds; the old
-- index is a prefix of this one.
create index dossier_resource_user_category_seq on dossier_resource (user_id, category, seq);
drop index dossier_resource_user_category;
