-- Each version's requirements as published: its SKILL.md's `requires:` entries, then the
-- ToolHive references (the `toolhive.requires` metadata and the manifest's
-- `dev.toolhive.skills.requires` annotation). A JSON array; null for versions recorded
-- before, whose requirements are read from their frontmatter.
ALTER TABLE versions ADD COLUMN requires TEXT;
