-- 005_item_instances.sql (PostgreSQL): the instance index of recurring items, as ../schema/005.
CREATE TABLE item_instances (
    id   bigint PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    data bytea NOT NULL
);
