-- 003_item_content.sql: item content moves to a table of its own, keyed by item id. The items
-- table then holds only metadata (about 150 bytes a row), so the listings, change-log and
-- range cursors read dense pages; before, 002's columns sat after the content and reading
-- them walked a large object's overflow pages. The content goes with its item (ON DELETE
-- CASCADE: item delete, collection delete, principal delete) and stays across a move (the id
-- is kept).
CREATE TABLE item_content (
    id   INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
INSERT INTO item_content(id, data) SELECT id, content FROM items;
ALTER TABLE items DROP COLUMN content;
