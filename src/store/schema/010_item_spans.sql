-- 010_item_spans.sql: an interval index of item spans and instances (issue 16), so that a
-- time-range query reads the items that overlap its range and not the history before it.
-- An SQLite R*Tree (the rtree module Debian's libsqlite3 is built with) of 32-bit integer
-- boxes in two dimensions:
--   k0 = k1: the key min(coll, 536870911) * 4 + kind, where kind is 0 for the span of an
--            item that also has instance boxes, 1 for the span of one that has none, 2 for
--            an instance box (a range query reads kinds 0-1 by span, 1-2 by instance);
--            collections past 2^29 - 1 share the last key and are told apart by items.coll;
--   t0, t1:  the box in minutes since 1970, rounded outwards (t0 down, t1 up), clamped to
--            32 bits: -2147483648 is "no start" and 2147483647 "no end" (an unbounded span,
--            INT64_MAX) or past the year 6053, so an open-ended series is always found.
-- The rowid is item id * 64 + slot: slot 0 the span, slots 1-63 the instance boxes. The
-- engine keeps it in step on every write (store_sqlite_item.c "Spans"); the box is a
-- pre-filter and the range cursor still compares items.dtstart/dtend exactly.
CREATE VIRTUAL TABLE item_spans USING rtree_i32(id, k0, k1, t0, t1);

-- Existing items get their span (kind 1); a series gets its instance boxes when next written.
INSERT INTO item_spans(id, k0, k1, t0, t1)
SELECT id * 64, k, k, lo, max(lo, hi) FROM (
    SELECT id, min(coll, 536870911) * 4 + 1 AS k,
           CASE WHEN dtstart <= -128849018880 THEN -2147483648
                WHEN dtstart >= 128849018820 THEN 2147483647
                ELSE (dtstart - (dtstart % 60 + 60) % 60) / 60 END AS lo,
           CASE WHEN dtend <= -128849018880 THEN -2147483648
                WHEN dtend >= 128849018820 THEN 2147483647
                ELSE (dtend + (60 - dtend % 60) % 60) / 60 END AS hi
    FROM items WHERE dtstart IS NOT NULL);
