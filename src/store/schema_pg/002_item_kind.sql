-- 002_item_kind.sql (PostgreSQL): as ../schema/002: the component bit and the recurring flag.
ALTER TABLE items ADD COLUMN comp integer NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN recurring integer NOT NULL DEFAULT 0;
