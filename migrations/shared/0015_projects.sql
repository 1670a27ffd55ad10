-- skill-pool's projects: a repository (by its normalised git remote) with the skills it
-- should load, in order, its stack tags and its imported plan; and a tenant's curated stack
-- mappings (a stack tag → skills), which bootstrap offers before tagged and semantic matches.
CREATE TABLE projects (
    id                  TEXT PRIMARY KEY,
    namespace           TEXT NOT NULL,
    slug                TEXT NOT NULL,
    name                TEXT NOT NULL,
    description         TEXT,
    git_remote          TEXT,
    stack_tags          TEXT NOT NULL DEFAULT '[]',
    plan                TEXT,
    plan_sha256         TEXT,
    plan_version        BIGINT NOT NULL DEFAULT 0,
    plan_imported_at    BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE UNIQUE INDEX projects_slug ON projects(namespace, slug);
CREATE UNIQUE INDEX projects_remote ON projects(namespace, git_remote) WHERE git_remote IS NOT NULL;
CREATE TABLE project_items (
    project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    skill_slug  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (project_id, skill_slug, kind)
);
CREATE TABLE stack_mappings (
    namespace   TEXT NOT NULL,
    stack_tag   TEXT NOT NULL,
    skill_slug  TEXT NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (namespace, stack_tag, skill_slug)
);
