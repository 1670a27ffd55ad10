-- SkillsMgr's agent surfaces. Tokens get a kind: `standard` (what its scope allows) or one of
-- the two agent kinds, whose rights are fixed (see TokenKind). Wishes are requests for a skill
-- nobody has published yet, site-wide or addressed to one namespace, closed when answered.
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'standard'
    CHECK (kind IN ('standard', 'agent-bridge', 'agent-publisher'));

CREATE TABLE wishes (
    id          TEXT PRIMARY KEY,
    author_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    namespace   TEXT,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    tags        TEXT NOT NULL DEFAULT '[]',
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    answer      TEXT,
    closed_by   TEXT REFERENCES users(id) ON DELETE SET NULL,
    closed_at   BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX wishes_namespace ON wishes(namespace, id);
CREATE INDEX wishes_author ON wishes(author_id, id);
CREATE TABLE wish_tags (
    wish_id TEXT NOT NULL REFERENCES wishes(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (wish_id, tag)
);
CREATE INDEX wish_tags_tag ON wish_tags(tag, wish_id);
