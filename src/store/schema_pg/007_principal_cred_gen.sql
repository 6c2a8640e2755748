-- 007_principal_cred_gen.sql (PostgreSQL): a credential generation per principal, as
-- ../schema/007. SQLite keeps the store-wide counter in meta 'cred_gen'; here it is a
-- sequence (never reused, no row lock every add and password change would queue on).
ALTER TABLE principals ADD COLUMN cred_gen bigint NOT NULL DEFAULT 0;
UPDATE principals SET cred_gen = id;
CREATE SEQUENCE cred_gen_seq;
SELECT setval('cred_gen_seq', (SELECT COALESCE(MAX(id), 0) FROM principals) + 1, false);
