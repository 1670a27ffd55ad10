//! The native REST API under `/api/v1`, in csreg's shapes.

mod accounts;
mod collections;
mod policies;
mod skills;
mod sources;
mod transfer;

use serde::Deserialize;
use utoipa::{IntoParams, IntoResponses};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::Problem;
use crate::domain::{Namespace, SkillName};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(accounts::whoami))
        .routes(routes!(accounts::create_user, accounts::list_users))
        .routes(routes!(accounts::create_user_token, accounts::list_user_tokens))
        .routes(routes!(accounts::set_token_rate_limits))
        .routes(routes!(accounts::create_token, accounts::list_tokens))
        .routes(routes!(accounts::revoke_token))
        .routes(routes!(accounts::create_team, accounts::list_teams))
        .routes(routes!(accounts::get_team))
        .routes(routes!(accounts::set_member, accounts::remove_member))
        .routes(routes!(accounts::list_audit))
        .routes(routes!(collections::create_collection, collections::list_collections))
        .routes(routes!(collections::get_collection, collections::replace_collection, collections::delete_collection))
        .routes(routes!(policies::list_policies))
        .routes(routes!(policies::reevaluate))
        .routes(routes!(sources::create_source, sources::list_sources))
        .routes(routes!(sources::get_source, sources::delete_source))
        .routes(routes!(sources::sync_source))
        .routes(routes!(sources::notify_source))
        .routes(routes!(transfer::export))
        // A bundle is bigger than JSON bodies; this route reads its body itself, after checking
        // who may import.
        .routes(routes!(transfer::import))
        .routes(routes!(skills::list_skills, skills::create_skill))
        .routes(routes!(skills::get_skill, skills::update_skill, skills::delete_skill))
        .routes(routes!(skills::restore_skill))
        .routes(routes!(skills::archive_skill))
        .routes(routes!(skills::unarchive_skill))
        .routes(routes!(skills::star_skill, skills::unstar_skill))
        .routes(routes!(skills::list_channels))
        .routes(routes!(skills::set_channel, skills::delete_channel))
        .routes(routes!(skills::list_versions, skills::create_version))
        .routes(routes!(skills::finalize_version))
        // Archives are bigger than JSON bodies; this route reads its body itself, after checking
        // whose upload it is.
        .routes(routes!(skills::put_upload))
        .routes(routes!(skills::resolve_skill))
        .routes(routes!(skills::download_skill))
        .routes(routes!(skills::get_archive))
        .routes(routes!(skills::diff_versions))
        .routes(routes!(skills::fork_skill))
        .routes(routes!(skills::yank_version, skills::unyank_version))
}

/// How long an uploaded archive may take to arrive.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The errors any endpoint of the native API may answer with.
#[allow(dead_code)]
#[derive(IntoResponses)]
enum Problems {
    /// validation-error: malformed JSON, unknown fields, bad names or parameters.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// authentication-required: no token, or an invalid, expired or revoked one.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// insufficient-permissions: the token's scope or the user's role is too low.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// not-found: it does not exist, or the caller may not see it.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// version-conflict: it already exists; state-conflict: it is not in a state that allows
    /// this (a team's last owner, restoring a skill that is not deleted).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// archive-too-large: the body is larger than the endpoint accepts.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// unsupported-media-type: a body without the `Content-Type` the endpoint reads.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
    /// rate-limit-exceeded: the caller's budget for this kind of request is spent; wait the
    /// seconds `Retry-After` gives.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Problem),
    /// service-unavailable: the database cannot be reached right now; retry after the
    /// seconds `Retry-After` gives.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
    /// insufficient-storage: the server's disk is full; nothing was stored.
    #[response(status = 507, content_type = "application/problem+json")]
    InsufficientStorage(Problem),
}

/// `/api/v1/skills/{scope}/{slug}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct SkillPath {
    /// The namespace (team slug).
    scope: Namespace,
    slug: SkillName,
}

/// `/api/v1/skills/{scope}/{slug}/channels/{name}`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct ChannelPath {
    scope: Namespace,
    slug: SkillName,
    #[param(inline, value_type = super::schema::SettableChannel)]
    name: String,
}

/// `/api/v1/skills/{scope}/{slug}/versions/{version}/…`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct VersionPath {
    scope: Namespace,
    slug: SkillName,
    #[param(inline, value_type = super::schema::Semver)]
    version: String,
}
