-- What identifies this database: derived data kept outside it (the search index in the
-- data directory) records the identity it was built from, and is rebuilt for another.
CREATE TABLE site (
    id  TEXT PRIMARY KEY
);
INSERT INTO site (id) VALUES (md5(random()::text || clock_timestamp()::text));
