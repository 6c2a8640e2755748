-- 014_listing_indexes.sql: covering indexes for the listings (issue 16). A Depth-1 PROPFIND
-- or a sync-collection that asks only for ETags reads an item's id, name and modseq (and for
-- the change log created_modseq): with these in the index that orders the listing, each row
-- comes from the index alone, without a seek into the items table (about a fifth of the
-- instructions of such an answer at 100,000 items; BENCHMARKS.md). items_coll_name stays:
-- it is the (coll, name) uniqueness the upsert names. The change log's index grows two
-- columns in place, so a write updates as many index entries as before for it.
CREATE INDEX items_coll_name_list ON items(coll, name, modseq);
DROP INDEX items_coll_modseq;
CREATE INDEX items_coll_modseq ON items(coll, modseq, name, created_modseq);
