-- 011_sched.sql (PostgreSQL): calendar user addresses of principals, as ../schema/011.
CREATE TABLE sched_addrs (
    addr      text COLLATE "C" PRIMARY KEY,
    principal bigint NOT NULL REFERENCES principals(id) ON DELETE CASCADE,
    created   bigint NOT NULL
);
CREATE INDEX sched_addrs_principal ON sched_addrs(principal, addr);
