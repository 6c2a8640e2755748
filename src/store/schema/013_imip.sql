-- 013_imip.sql: the iMIP outbox (issue 13 item 5, RFC 6047; docs/scheduling.md "iMIP"):
-- one row per message to a calendar user outside this server, written in the transaction of
-- the calendar write that made it, sent later by almanacd's sender thread through the SMTP
-- relay. `message` is the whole RFC 5322 message as it goes on the wire (CRLF lines), built
-- by the scheduling layer; the store keeps its bytes and never parses them. `state`: 0
-- queued, 1 sent, 2 failed (given up after imip_max_age). `principal` is the local user the
-- message speaks for (the organizer of a REQUEST/CANCEL, the attendee of a REPLY), `attendee`
-- the ATTENDEE address whose SCHEDULE-STATUS a failure updates (NULL for a REPLY).
CREATE TABLE imip_queue (
    id         INTEGER PRIMARY KEY,
    created    INTEGER NOT NULL,
    principal  INTEGER REFERENCES principals(id) ON DELETE SET NULL,
    mail_from  TEXT NOT NULL,
    rcpt_to    TEXT NOT NULL,
    method     TEXT NOT NULL,
    uid        TEXT NOT NULL,
    attendee   TEXT,
    message    BLOB NOT NULL,
    state      INTEGER NOT NULL DEFAULT 0,
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_try   INTEGER NOT NULL,
    last_error TEXT,
    done       INTEGER
);
CREATE INDEX imip_queue_due ON imip_queue(state, next_try);
