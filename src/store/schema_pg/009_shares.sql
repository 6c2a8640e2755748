-- 009_shares.sql (PostgreSQL): calendars shared between principals, as ../schema/009.
CREATE TABLE shares (
    coll    bigint NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    sharee  bigint NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    access  integer NOT NULL CHECK (access IN (1, 2)),
    name    text COLLATE "C" NOT NULL,
    created bigint NOT NULL,
    PRIMARY KEY (coll, sharee)
);
CREATE UNIQUE INDEX shares_sharee_name ON shares(sharee, name);
CREATE INDEX principals_home ON principals(home_id);
