-- A first publish prepares its upload before the skill exists: the skill is created only when
-- the version is stored, so a failed publish leaves nothing behind. Such an upload has no
-- skill yet; the skill to create travels in its metadata (`create`).
ALTER TABLE uploads ALTER COLUMN skill_id DROP NOT NULL;
