-- 008_subscriptions.sql: read-only subscription URLs (issue 15). A secret token names one
-- calendar; whoever holds the URL reads the calendar as one iCalendar file without signing
-- in (webcal:// subscribers cannot). Revoking deletes the calendar's tokens; deleting the
-- calendar (or its owner) deletes them too.
CREATE TABLE subscriptions (
    token   TEXT PRIMARY KEY,
    coll    INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX subscriptions_coll ON subscriptions(coll);
