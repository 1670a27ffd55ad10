-- What the npm surface serves for a version: its npm tarball's sha512 integrity, sha1
-- shasum and size. The tarball is rebuilt from the version's immutable artifact on each
-- download; these are computed once, the first time a packument lists the version.
CREATE TABLE npm_dists (
    version_id  TEXT PRIMARY KEY REFERENCES versions(id) ON DELETE CASCADE,
    integrity   TEXT NOT NULL,
    shasum      TEXT NOT NULL,
    size        BIGINT NOT NULL
);
