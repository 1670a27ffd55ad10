-- Browser sessions of the web catalog. The cookie's secret is stored only as its SHA-256
-- (`id`); a session acts as the API token it was opened with, so revoking or expiring that
-- token ends it. `csrf` is the form token every state-changing form must echo.
CREATE TABLE web_sessions (
    id          TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX web_sessions_token ON web_sessions (token_id);
