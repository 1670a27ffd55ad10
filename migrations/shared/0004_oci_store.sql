-- The embedded OCI store's repositories. Bytes live in the OCI image layout under the data
-- dir; these rows say which repository may serve which blob, which manifests and tags it
-- has, and what refers to what (for the referrers API).
CREATE TABLE oci_blobs (
    repo        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX oci_blobs_digest ON oci_blobs(digest);

CREATE TABLE oci_manifests (
    repo           TEXT NOT NULL,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    size           BIGINT NOT NULL,
    artifact_type  TEXT,
    subject        TEXT,
    annotations    TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE INDEX oci_manifests_subject ON oci_manifests(repo, subject);

CREATE TABLE oci_tags (
    repo        TEXT NOT NULL,
    tag         TEXT NOT NULL,
    digest      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (repo, tag)
);
