-- A namespace's webhook (skill-pool's tenant notifications) and the deliveries waiting for
-- it: a durable queue, so a restart loses none. The secret signs deliveries (HMAC), so it is
-- kept as given; it is never returned.
CREATE TABLE webhooks (
    namespace   TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT,
    updated_at  BIGINT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    namespace       TEXT NOT NULL,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(status, next_attempt_at);
