-- A star or unstar changes the popularity search breaks ties with: the search index follows
-- it like any other change. (Downloads stay out: one change per download would be a write
-- to the sequence for every install; the index takes them up with the skill's next change.)
DROP TRIGGER skill_changes_update ON skills;
CREATE TRIGGER skill_changes_update AFTER UPDATE OF scope, slug, display_name, description, readme, visibility,
    tags, skill_type, latest_version, deprecated, deleted_at, stars ON skills FOR EACH ROW EXECUTE FUNCTION skill_changed();
