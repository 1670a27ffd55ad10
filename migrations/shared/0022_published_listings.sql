-- Listings of skills with a published version (the web catalog's home, ToolHive, npm) sorted
-- by recency or downloads: a catalog where few skills have a version would otherwise walk
-- the whole sort index to find them.
CREATE INDEX skills_published_updated ON skills (updated_at DESC, id) WHERE latest_version IS NOT NULL;
CREATE INDEX skills_published_downloads ON skills (downloads DESC, id) WHERE latest_version IS NOT NULL;
