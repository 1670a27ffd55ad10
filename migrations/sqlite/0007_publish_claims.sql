-- A prepared upload belongs to the member who prepared it: several may wait for one version,
-- and a finalize publishes only its caller's own. "One publish of a version at a time" is a
-- claim on the version itself, a lease held by one upload (or one npm publish).
CREATE TABLE uploads_v7 (
    id              TEXT PRIMARY KEY,
    skill_id        TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    version         TEXT NOT NULL,
    archive_sha256  TEXT NOT NULL,
    archive_size    BIGINT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
INSERT INTO uploads_v7 (id, skill_id, version, archive_sha256, archive_size, metadata, created_by, created_at, expires_at)
    SELECT id, skill_id, version, archive_sha256, archive_size, metadata, created_by, created_at, expires_at FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_v7 RENAME TO uploads;
CREATE INDEX uploads_expiry ON uploads(expires_at);
CREATE INDEX uploads_version ON uploads(skill_id, version, created_by);

CREATE TABLE publish_claims (
    skill_id       TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    version        TEXT NOT NULL,
    holder         TEXT NOT NULL,
    claimed_until  BIGINT NOT NULL,
    PRIMARY KEY (skill_id, version)
);
