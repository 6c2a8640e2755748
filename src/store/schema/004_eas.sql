-- 004_eas.sql: ActiveSync device state (store.h "ActiveSync device state"). Opaque to the
-- store: numbers, keys and blobs the eas layer encodes. Everything hangs off a device and a
-- device off its principal, so deleting either deletes the state by cascade; membership
-- hangs off the sync state of its (device, collection), so a sync reset, a device delete and
-- a collection delete all take it through the sync row, each by an index prefix.

CREATE TABLE eas_devices (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    principal       INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    device_key      TEXT NOT NULL, -- device_id upper-cased (ASCII): the identity
    device_id       TEXT NOT NULL, -- as first seen, for display
    device_type     TEXT NOT NULL,
    user_agent      TEXT,
    protocol        TEXT,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    policy_key      INTEGER NOT NULL DEFAULT 0,
    policy_pending  INTEGER NOT NULL DEFAULT 0,
    model           TEXT,
    friendly_name   TEXT,
    os              TEXT,
    os_language     TEXT,
    imei            TEXT,
    phone_number    TEXT,
    mobile_operator TEXT
);
CREATE UNIQUE INDEX eas_devices_principal_key ON eas_devices(principal, device_key);

-- Rowid tables with a separate key index: blobs and answers may be large (a cached request,
-- a whole Sync response), which WITHOUT ROWID tables store badly.
CREATE TABLE eas_blobs (
    device INTEGER NOT NULL REFERENCES eas_devices(id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    data   BLOB NOT NULL,
    PRIMARY KEY (device, name)
);

CREATE TABLE eas_sync (
    device     INTEGER NOT NULL REFERENCES eas_devices(id) ON DELETE CASCADE,
    coll       INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    key_cur    TEXT NOT NULL,
    key_prev   TEXT,
    cursor     INTEGER NOT NULL,
    coll_epoch INTEGER NOT NULL,
    options    BLOB,
    answer     BLOB,
    updated    INTEGER NOT NULL,
    PRIMARY KEY (device, coll)
);
CREATE INDEX eas_sync_coll ON eas_sync(coll); -- the cascade from a collection delete

-- One row per item a device holds: O(log n) lookups by the key. dtend is the end of the
-- item's span when the member was last written (NULL: no span); the partial index finds the
-- members that aged out of a FilterType window without reading the collection's history.
CREATE TABLE eas_members (
    device INTEGER NOT NULL,
    coll   INTEGER NOT NULL,
    item   INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    dtend  INTEGER,
    PRIMARY KEY (device, coll, item),
    FOREIGN KEY (device, coll) REFERENCES eas_sync(device, coll) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX eas_members_dtend ON eas_members(device, coll, dtend) WHERE dtend IS NOT NULL;
