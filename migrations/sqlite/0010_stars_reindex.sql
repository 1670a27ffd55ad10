-- A star or unstar changes the popularity search breaks ties with: the search index follows
-- it like any other change. (Downloads stay out: one change per download would be a write
-- to the sequence for every install; the index takes them up with the skill's next change.)
DROP TRIGGER skill_changes_update;
CREATE TRIGGER skill_changes_update AFTER UPDATE OF scope, slug, display_name, description, readme, visibility,
    tags, skill_type, latest_version, deprecated, deleted_at, stars ON skills BEGIN
    INSERT INTO skill_changes (skill_id, at)
        VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
