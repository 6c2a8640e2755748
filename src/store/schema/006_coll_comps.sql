-- 006_coll_comps.sql: the component types a collection accepts, as the caller's bits (store.h
-- struct store_coll.comps; CalDAV's supported-calendar-component-set, RFC 4791 §5.2.3). 0, the
-- value every existing collection gets, means no restriction.
ALTER TABLE collections ADD COLUMN comps INTEGER NOT NULL DEFAULT 0;
