-- Every change to what search shows of a skill, in commit order: each replica's search index
-- follows this sequence, so a change made through one replica is found through all of them.
-- Downloads and stars only nudge ranking and are left out, so busy skills do not flood it.
CREATE TABLE skill_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    skill_id    TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX skill_changes_at ON skill_changes(at);
CREATE TRIGGER skill_changes_insert AFTER INSERT ON skills BEGIN
    INSERT INTO skill_changes (skill_id, at)
        VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER skill_changes_update AFTER UPDATE OF scope, slug, display_name, description, readme, visibility,
    tags, skill_type, latest_version, deprecated, deleted_at ON skills BEGIN
    INSERT INTO skill_changes (skill_id, at)
        VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
