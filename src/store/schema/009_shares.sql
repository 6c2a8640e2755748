-- 009_shares.sql: calendars shared between principals (issue 12). A grant gives one sharee
-- read or read-write access to one collection of another principal; the sharee sees it as a
-- member of their own home under `name` (unique among the sharee's shares; the store keeps
-- it apart from the names of the sharee's own home members). Deleting the collection, the
-- owner or the sharee deletes the grant.
CREATE TABLE shares (
    coll    INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    sharee  INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    access  INTEGER NOT NULL CHECK (access IN (1, 2)),
    name    TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (coll, sharee)
) WITHOUT ROWID;
CREATE UNIQUE INDEX shares_sharee_name ON shares(sharee, name);
CREATE INDEX principals_home ON principals(home_id);
