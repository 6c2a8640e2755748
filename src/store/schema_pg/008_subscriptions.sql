-- 008_subscriptions.sql (PostgreSQL): read-only subscription URLs, as ../schema/008.
CREATE TABLE subscriptions (
    token   text COLLATE "C" PRIMARY KEY,
    coll    bigint NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    created bigint NOT NULL
);
CREATE INDEX subscriptions_coll ON subscriptions(coll);
