-- The site's look (skill-pool's theme): one row of settings (JSON as the API shows it) and
-- the logo and favicon, already sanitized, as base64 text (the same on SQLite and PostgreSQL).
CREATE TABLE site_theme (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    settings    TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE theme_assets (
    name          TEXT PRIMARY KEY,
    content_type  TEXT NOT NULL,
    data          TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);
