-- 014_listing_indexes.sql (PostgreSQL): the covering indexes of ../schema/014 for the
-- listings (issue 16: a Depth-1 PROPFIND or a sync-collection asking only for ETags reads an
-- item's id, name and modseq, and for the change log created_modseq). SQLite's index carries
-- the rowid (the id) by itself; here the id is named in INCLUDE, so both listings can be
-- index-only scans (once VACUUM has marked the pages all-visible). items_coll_name stays: it
-- is the (coll, name) uniqueness the upsert names. The change log's index is rebuilt with the
-- listed columns as payload, so a write updates as many index entries as before for it.
CREATE INDEX items_coll_name_list ON items(coll, name) INCLUDE (id, modseq);
DROP INDEX items_coll_modseq;
CREATE INDEX items_coll_modseq ON items(coll, modseq) INCLUDE (id, name, created_modseq);
