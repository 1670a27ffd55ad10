-- What resolve answers with besides the digest: the top manifest's size, and which
-- artifact layout the version was read in (toolhive, agentskills, tar+gzip).
ALTER TABLE versions ADD COLUMN manifest_size BIGINT;
ALTER TABLE versions ADD COLUMN layout TEXT;
