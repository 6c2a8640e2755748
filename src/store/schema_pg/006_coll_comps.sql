-- 006_coll_comps.sql (PostgreSQL): the component types a collection accepts, as ../schema/006.
ALTER TABLE collections ADD COLUMN comps integer NOT NULL DEFAULT 0;
