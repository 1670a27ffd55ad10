-- Prepared uploads (csreg two-step publishing). A row lives from "prepare" until
-- "finalize" stores the version, or until it expires; it is never a visible version.
CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    skill_id        TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    version         TEXT NOT NULL,
    archive_sha256  TEXT NOT NULL,
    archive_size    BIGINT NOT NULL,
    metadata        TEXT NOT NULL DEFAULT '{}',
    created_by      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    UNIQUE (skill_id, version)
);
CREATE INDEX uploads_expiry ON uploads(expires_at);
