-- A finalize claims its upload until this time (epoch ms), so two finalizes of one version
-- never push at once: the second is told the version is being finalized. A claim is a lease,
-- so one left behind by a crashed process lapses on its own.
ALTER TABLE uploads ADD COLUMN claimed_until BIGINT;
