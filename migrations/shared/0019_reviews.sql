-- Collections: named, ordered lists of skills owned by a user or by a namespace's team, public
-- or private. Reviews: one per author and target (a skill or a collection), rated `grande`
-- or `regular`, as private as what they review.
CREATE TABLE collections (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT REFERENCES users(id) ON DELETE CASCADE,
    namespace   TEXT,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    visibility  TEXT NOT NULL CHECK (visibility IN ('public', 'private')),
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CHECK ((owner_id IS NULL) <> (namespace IS NULL))
);
CREATE INDEX collections_owner ON collections(owner_id, id);
CREATE INDEX collections_namespace ON collections(namespace, id);
CREATE TABLE collection_items (
    collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    position      BIGINT NOT NULL,
    skill_id      TEXT NOT NULL REFERENCES skills(id) ON DELETE CASCADE,
    PRIMARY KEY (collection_id, position)
);
CREATE INDEX collection_items_skill ON collection_items(skill_id);

CREATE TABLE reviews (
    id          TEXT PRIMARY KEY,
    author_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    target_type TEXT NOT NULL CHECK (target_type IN ('package', 'collection')),
    target_id   TEXT NOT NULL,
    rating      TEXT NOT NULL CHECK (rating IN ('grande', 'regular')),
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX reviews_one_per_author ON reviews(author_id, target_type, target_id);
CREATE INDEX reviews_target ON reviews(target_type, target_id, id);
