-- 005_item_instances.sql: the instance index of recurring items, as bytes the cal layer made
-- on PUT (store.h struct store_item_in.instances), in a table of its own keyed by item id so
-- the items rows stay dense (see 003). Only series with a finite, indexed walk have a row;
-- the range cursor reads it with each candidate, so a time-range query decides a series
-- without parsing it. It goes with its item (ON DELETE CASCADE) and stays across a move.
CREATE TABLE item_instances (
    id   INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    data BLOB NOT NULL
);
