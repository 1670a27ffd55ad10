-- Every change to what search shows of a skill, in sequence: each replica's search index
-- follows it, so a change made through one replica is found through all of them. Downloads
-- and stars only nudge ranking and are left out, so busy skills do not flood it. Sequence
-- numbers of concurrent transactions can commit out of order; readers allow for that.
CREATE TABLE skill_changes (
    seq         BIGSERIAL PRIMARY KEY,
    skill_id    TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX skill_changes_at ON skill_changes(at);
CREATE FUNCTION skill_changed() RETURNS trigger AS $$
BEGIN
    INSERT INTO skill_changes (skill_id, at) VALUES (NEW.id, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER skill_changes_insert AFTER INSERT ON skills FOR EACH ROW EXECUTE FUNCTION skill_changed();
CREATE TRIGGER skill_changes_update AFTER UPDATE OF scope, slug, display_name, description, readme, visibility,
    tags, skill_type, latest_version, deprecated, deleted_at ON skills FOR EACH ROW EXECUTE FUNCTION skill_changed();
