-- A prepared upload belongs to the member who prepared it: several may wait for one version,
-- and a finalize publishes only its caller's own. "One publish of a version at a time" is a
-- claim on the version itself, a lease held by one upload (or one npm publish).
ALTER TABLE uploads DROP CONSTRAINT IF EXISTS uploads_skill_id_version_key;
ALTER TABLE uploads DROP COLUMN IF EXISTS claimed_until;
CREATE INDEX uploads_version ON uploads(skill_id, version, created_by);

CREATE TABLE publish_claims (
    skill_id       TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    version        TEXT NOT NULL,
    holder         TEXT NOT NULL,
    claimed_until  BIGINT NOT NULL,
    PRIMARY KEY (skill_id, version)
);
