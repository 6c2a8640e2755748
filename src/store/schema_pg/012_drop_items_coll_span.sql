-- 012_drop_items_coll_span.sql (PostgreSQL): as ../schema/012, the (coll, dtstart, dtend)
-- index no query reads since 010's interval index.
DROP INDEX IF EXISTS items_coll_span;
