-- skill-pool's classification of a skill (skill, agent or command) and its archive: an
-- archived skill has left the catalog (no listing or search shows it) but still resolves,
-- so what is installed keeps working. Both change what search shows of a skill.
ALTER TABLE skills ADD COLUMN kind TEXT NOT NULL DEFAULT 'skill';
ALTER TABLE skills ADD COLUMN archived BOOLEAN NOT NULL DEFAULT FALSE;
DROP TRIGGER skill_changes_update ON skills;
CREATE TRIGGER skill_changes_update AFTER UPDATE OF scope, slug, display_name, description, readme, visibility,
    tags, skill_type, kind, archived, latest_version, deprecated, deleted_at ON skills
    FOR EACH ROW EXECUTE FUNCTION skill_changed();
