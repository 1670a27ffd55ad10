-- What people do with skills, from every surface: a download (bundle, tarball, install) or a
-- view (SKILL.md read). Feeds skill-pool's usage timeline, top list and decay report; the
-- skill's `downloads` counter moves in the same transaction as its download events.
CREATE TABLE usage_events (
    id          TEXT PRIMARY KEY,
    skill_id    TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX usage_events_skill ON usage_events(skill_id, at);
CREATE INDEX usage_events_at ON usage_events(at);
