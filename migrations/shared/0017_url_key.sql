-- The key this site signs short-lived URLs with (skill-pool's bundle redirects). Set once, by
-- whichever replica needs it first; every replica then reads the same one.
ALTER TABLE site ADD COLUMN url_key TEXT;
