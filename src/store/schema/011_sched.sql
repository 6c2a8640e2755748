-- 011_sched.sql: calendar user addresses an admin gives a principal (issue 13, RFC 6638
-- §2.4.1 calendar-user-address-set), besides the mailto:<name>@<mail_domain> every principal
-- has when the server's mail_domain is set. An address belongs to one principal at most;
-- it is kept lower-cased (addresses compare ASCII case-insensitively). Deleting the
-- principal deletes its addresses.
CREATE TABLE sched_addrs (
    addr      TEXT PRIMARY KEY,
    principal INTEGER NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    created   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sched_addrs_principal ON sched_addrs(principal, addr);
