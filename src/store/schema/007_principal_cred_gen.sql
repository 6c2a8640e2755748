-- 007_principal_cred_gen.sql: a credential generation per principal (store.h struct
-- store_principal.cred_gen), so a process that caches verified passwords (almanacd's HTTP
-- layer) can tell with one indexed read that the password it verified is no longer the
-- principal's. Values come from one store-wide counter (meta 'cred_gen'), taken anew by
-- every add and password change and never reused, so a name deleted and created again
-- never has a generation its predecessor had. Existing principals get their id, which is
-- unique and at most the counter's start.
ALTER TABLE principals ADD COLUMN cred_gen INTEGER NOT NULL DEFAULT 0;
UPDATE principals SET cred_gen = id;
INSERT OR REPLACE INTO meta(key, value)
    VALUES ('cred_gen', (SELECT COALESCE(MAX(id), 0) FROM principals));
