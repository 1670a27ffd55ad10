-- A token's own rate limits, set by a site administrator over the server's (the form of
-- `--rate-limits`, e.g. `publish=100/hour`); NULL for none.
ALTER TABLE tokens ADD COLUMN rate_limits TEXT;
