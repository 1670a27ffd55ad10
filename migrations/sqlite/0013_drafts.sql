-- skill-pool's drafts inbox: a bundle captured for review, published later as a version or
-- discarded (its content purged). The bundle travels with the row so every replica sees it.
CREATE TABLE drafts (
    id                          TEXT PRIMARY KEY,
    namespace                   TEXT NOT NULL,
    slug                        TEXT NOT NULL,
    description                 TEXT NOT NULL,
    when_to_use                 TEXT,
    tags                        TEXT NOT NULL DEFAULT '[]',
    origin                      TEXT NOT NULL,
    notes                       TEXT,
    status                      TEXT NOT NULL,
    published_version           TEXT,
    archive                     BLOB,
    archive_sha256              TEXT NOT NULL,
    merge_proposal_slug         TEXT,
    merge_proposal_similarity   REAL,
    created_by                  TEXT NOT NULL,
    created_at                  BIGINT NOT NULL,
    reviewed_at                 BIGINT,
    -- A publish holds the draft until then (epoch ms), so two never publish it at once.
    claimed_until               BIGINT
);
CREATE INDEX drafts_inbox ON drafts(namespace, status, created_at);
