-- 001_initial.sql: principals, collections (a tree per principal), items, tombstones and
-- dead properties. The change log is the items and tombstones ordered by (coll, modseq).
-- Item content is the last column so metadata scans never read its overflow pages.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE principals (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL UNIQUE,
    pwhash  TEXT NOT NULL,
    home_id INTEGER
);

CREATE TABLE collections (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    owner        INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    parent       INTEGER REFERENCES collections(id) ON DELETE CASCADE,
    kind         INTEGER NOT NULL,
    name         TEXT NOT NULL,
    modseq       INTEGER NOT NULL,
    epoch        INTEGER NOT NULL,
    change_guid  BLOB NOT NULL,
    tomb_horizon INTEGER NOT NULL DEFAULT 0,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL
);
CREATE UNIQUE INDEX collections_parent_name ON collections(parent, name);
CREATE INDEX collections_owner ON collections(owner);

CREATE TABLE items (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    coll           INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    uid            TEXT,
    content_type   TEXT NOT NULL,
    size           INTEGER NOT NULL,
    modseq         INTEGER NOT NULL,
    created_modseq INTEGER NOT NULL,
    mtime          INTEGER NOT NULL,
    dtstart        INTEGER,
    dtend          INTEGER,
    content        BLOB NOT NULL
);
CREATE UNIQUE INDEX items_coll_name ON items(coll, name);
CREATE UNIQUE INDEX items_coll_uid ON items(coll, uid) WHERE uid IS NOT NULL;
CREATE INDEX items_coll_modseq ON items(coll, modseq);
CREATE INDEX items_coll_span ON items(coll, dtstart, dtend) WHERE dtstart IS NOT NULL;

CREATE TABLE tombstones (
    coll           INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    item_id        INTEGER NOT NULL,
    name           TEXT NOT NULL,
    modseq         INTEGER NOT NULL,
    created_modseq INTEGER NOT NULL,
    deleted_at     INTEGER NOT NULL
);
CREATE INDEX tombstones_coll_modseq ON tombstones(coll, modseq);

CREATE TABLE props (
    res_kind INTEGER NOT NULL,
    res_id   INTEGER NOT NULL,
    ns       TEXT NOT NULL,
    name     TEXT NOT NULL,
    value    BLOB NOT NULL,
    PRIMARY KEY (res_kind, res_id, ns, name)
) WITHOUT ROWID;
