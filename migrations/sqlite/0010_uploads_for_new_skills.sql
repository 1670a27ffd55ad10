-- A first publish prepares its upload before the skill exists: the skill is created only when
-- the version is stored, so a failed publish leaves nothing behind. Such an upload has no
-- skill yet; the skill to create travels in its metadata (`create`).
CREATE TABLE uploads_v10 (
    id              TEXT PRIMARY KEY,
    skill_id        TEXT REFERENCES skills(id) ON DELETE CASCADE,
    version         TEXT NOT NULL,
    archive_sha256  TEXT NOT NULL,
    archive_size    BIGINT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
INSERT INTO uploads_v10 (id, skill_id, version, archive_sha256, archive_size, metadata, created_by, created_at, expires_at)
    SELECT id, skill_id, version, archive_sha256, archive_size, metadata, created_by, created_at, expires_at FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_v10 RENAME TO uploads;
CREATE INDEX uploads_expiry ON uploads(expires_at);
CREATE INDEX uploads_version ON uploads(skill_id, version, created_by);
