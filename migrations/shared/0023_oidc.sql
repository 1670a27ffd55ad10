-- Sign-in with OpenID Connect. A team may name its own provider (skill-pool's per-tenant
-- SSO); `client_secret` is never returned by the API. People a provider signed in are known
-- by the provider's issuer and their subject there; `token_id` is the token their browser
-- sessions act as (its secret was never shown to anyone).
CREATE TABLE oidc_providers (
    team_id       TEXT PRIMARY KEY REFERENCES teams(id) ON DELETE CASCADE,
    issuer        TEXT NOT NULL,
    client_id     TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    default_role  TEXT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE oidc_identities (
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_id    TEXT REFERENCES tokens(id) ON DELETE SET NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
-- One subject per user and provider: two sign-ins at once cannot both claim one user.
CREATE UNIQUE INDEX oidc_identities_user ON oidc_identities (user_id, issuer);
