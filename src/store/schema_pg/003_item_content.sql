-- 003_item_content.sql (PostgreSQL): as ../schema/003: the content in a table of its own,
-- keyed by item id, so the metadata rows the cursors scan stay small (PostgreSQL would
-- TOAST a large value anyway; a small one would sit in the row).
CREATE TABLE item_content (
    id   bigint PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    data bytea NOT NULL
);
INSERT INTO item_content(id, data) SELECT id, content FROM items;
ALTER TABLE items DROP COLUMN content;
