-- skilldex index, PostgreSQL. Keep in step with ../sqlite/0001_init.sql.
-- Instants are milliseconds since the Unix epoch (BIGINT) on both backends.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    username    TEXT NOT NULL UNIQUE,
    email       TEXT NOT NULL,
    is_admin    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE teams (
    id            TEXT PRIMARY KEY,
    slug          TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id     TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('reader', 'publisher', 'owner')),
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE skills (
    id                  TEXT PRIMARY KEY,
    scope               TEXT NOT NULL REFERENCES teams(slug),
    slug                TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    readme              TEXT NOT NULL DEFAULT '',
    visibility          TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    tags                TEXT NOT NULL DEFAULT '[]',
    skill_type          TEXT NOT NULL,
    downloads           BIGINT NOT NULL DEFAULT 0,
    stars               BIGINT NOT NULL DEFAULT 0,
    latest_version      TEXT,
    deprecated          BOOLEAN NOT NULL DEFAULT FALSE,
    deprecated_message  TEXT,
    forked_from         TEXT,
    deleted_at          BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (scope, slug)
);
CREATE INDEX skills_downloads ON skills(downloads DESC, id);
CREATE INDEX skills_stars ON skills(stars DESC, id);
CREATE INDEX skills_updated ON skills(updated_at DESC, id);
CREATE INDEX skills_name ON skills(slug, id);

CREATE TABLE skill_tags (
    skill_id  TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    tag       TEXT NOT NULL,
    PRIMARY KEY (skill_id, tag)
);
CREATE INDEX skill_tags_tag ON skill_tags(tag);

-- Full-text search: a weighted tsvector kept by the database itself, with a GIN index.
ALTER TABLE skills ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', slug), 'A') ||
    setweight(to_tsvector('english', display_name), 'A') ||
    setweight(to_tsvector('english', tags), 'B') ||
    setweight(to_tsvector('english', description), 'B') ||
    setweight(to_tsvector('english', readme), 'D')
) STORED;
CREATE INDEX skills_search ON skills USING GIN (search);

CREATE TABLE stars (
    skill_id    TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (skill_id, user_id)
);

CREATE TABLE versions (
    id              TEXT PRIMARY KEY,
    skill_id        TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    version         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('draft', 'published', 'yanked')),
    changelog       TEXT,
    entry_point     TEXT NOT NULL DEFAULT 'SKILL.md',
    skill_type      TEXT NOT NULL,
    install_path    TEXT,
    file_count      BIGINT NOT NULL DEFAULT 0,
    archive_size    BIGINT NOT NULL DEFAULT 0,
    archive_sha256  TEXT,
    reference       TEXT,
    digest          TEXT,
    media_type      TEXT,
    file_tree       TEXT NOT NULL DEFAULT '[]',
    frontmatter     TEXT NOT NULL DEFAULT '{}',
    readme          TEXT,
    signature       TEXT,
    created_at      BIGINT NOT NULL,
    published_at    BIGINT,
    UNIQUE (skill_id, version)
);

CREATE TABLE channels (
    skill_id    TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    version     TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (skill_id, name)
);

CREATE TABLE audit_log (
    id      TEXT PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}'
);
