-- 010_item_spans.sql (PostgreSQL): the interval index of item spans and instance boxes that
-- ../schema/010 keeps in an SQLite R*Tree, here a GiST index over (coll, kind, box) with
-- btree_gist for the scalar columns (a trusted extension: the database owner may create it).
-- One row per (item, slot): slot 0 the span, 1..63 the instance boxes; kind as SQLite's
-- (0 the span of an item with instance boxes, 1 of one without, 2 an instance box). The box
-- is the exact span in seconds, [dtstart, dtend] closed, so no rounding is needed here (the
-- range cursor still compares items.dtstart/dtend exactly, like SQLite's). An unbounded end
-- (INT64_MAX) or start (INT64_MIN) is an infinite bound (int8range would overflow on it).
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE item_spans (
    item bigint NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    slot integer NOT NULL,
    coll bigint NOT NULL,
    kind smallint NOT NULL,
    box  int8range NOT NULL,
    PRIMARY KEY (item, slot)
);
CREATE INDEX item_spans_box ON item_spans USING gist (coll, kind, box);

INSERT INTO item_spans(item, slot, coll, kind, box)
SELECT id, 0, coll, 1, int8range(NULLIF(dtstart, -9223372036854775808),
                                 NULLIF(greatest(dtstart, dtend), 9223372036854775807), '[]')
FROM items WHERE dtstart IS NOT NULL;
