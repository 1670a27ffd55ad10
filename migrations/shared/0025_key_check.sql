-- What the site's secret key proves about itself (an HMAC of a fixed text): a replica started
-- with another key than the one the database's secrets were sealed with refuses to start.
ALTER TABLE site ADD COLUMN key_check TEXT;
