-- Sources: where a namespace's versions come from without anyone publishing them by hand
-- (an OCI repository or a prefix of them, for now). A source acts through `token_id`, a token
-- of the administrator who added it whose secret was never shown: revoking that token, or
-- the administrator losing their rights, stops the source. A `mirror` source copies each
-- artifact, with its signatures, into this server's storage and records the copy. `credentials` are sealed with the
-- site key and never returned; `notify_hash` is the SHA-256 of the shared secret registry
-- notifications present. `status` is the last run's outcome as JSON.
CREATE TABLE sources (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    namespace     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    location      TEXT NOT NULL,
    interval_secs BIGINT NOT NULL,
    visibility    TEXT NOT NULL,
    mirror        BOOLEAN NOT NULL,
    credentials   TEXT,
    notify_hash   TEXT,
    token_id      TEXT REFERENCES tokens(id) ON DELETE SET NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    next_run_at   BIGINT NOT NULL,
    lease_until   BIGINT,
    status        TEXT NOT NULL
);
CREATE INDEX sources_due ON sources (next_run_at);

-- What a source found at each tag it looked at: the digest it saw, and what became of it
-- (`registered`, `exists`, `failed`, `moved`). A recorded version never follows its tag.
CREATE TABLE source_tags (
    source_id  TEXT NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    detail     TEXT,
    skill      TEXT,
    version    TEXT,
    seen_at    BIGINT NOT NULL,
    PRIMARY KEY (source_id, repository, tag)
);
