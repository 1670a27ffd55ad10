//! skill-pool's SSO settings (`/v1/tenant/sso/oidc`): a tenant's owners name the OpenID
//! provider its people sign in with. The client secret is written, never read back.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{Reply, SpCaller, SpError, SpJson, Tenant};
use crate::api::AppState;
use crate::domain::{Namespace, TeamRole};
use crate::service::signin::ProviderInput;
use crate::store::OidcProvider;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/tenant/sso/oidc", get(get_oidc).put(put_oidc).delete(delete_oidc))
}

/// The settings as skill-pool shows them: `client_secret` always `null`.
#[derive(Debug, Serialize)]
struct OidcSettings {
    issuer: String,
    client_id: String,
    client_secret: Option<String>,
    default_role: TeamRole,
    /// What to register at the provider as this tenant's redirect URI.
    redirect_uri: String,
}

fn settings(state: &AppState, namespace: &Namespace, p: OidcProvider) -> OidcSettings {
    OidcSettings {
        issuer: p.issuer,
        client_id: p.client_id,
        client_secret: None,
        default_role: p.default_role,
        redirect_uri: crate::web::tenant_callback(state, namespace),
    }
}

async fn get_oidc(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
) -> Reply<Json<Option<OidcSettings>>> {
    let provider = state.index.sign_in().team_provider(&caller, &namespace).await?;
    Ok(Json(provider.map(|p| settings(&state, &namespace, p))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutOidc {
    issuer: String,
    client_id: String,
    /// Left out (or `null`): the stored one is kept.
    #[serde(default)]
    client_secret: Option<String>,
    default_role: String,
}

async fn put_oidc(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
    SpJson(body): SpJson<PutOidc>,
) -> Reply<Json<OidcSettings>> {
    // skill-pool's role names, and skilldex's.
    let default_role = match body.default_role.as_str() {
        "viewer" | "reader" => TeamRole::Reader,
        "publisher" => TeamRole::Publisher,
        "admin" | "owner" => TeamRole::Owner,
        other => {
            return Err(SpError::bad_request(format!(
                "unknown default_role `{}`: use viewer, publisher or admin",
                other.escape_debug()
            )));
        }
    };
    let input = ProviderInput {
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret.filter(|s| !s.is_empty()),
        default_role,
    };
    let provider = state.index.sign_in().set_team_provider(&caller, &namespace, input).await?;
    Ok(Json(settings(&state, &namespace, provider)))
}

async fn delete_oidc(
    State(state): State<AppState>,
    Tenant(namespace): Tenant,
    SpCaller(caller): SpCaller,
) -> Reply<StatusCode> {
    state.index.sign_in().remove_team_provider(&caller, &namespace).await?;
    Ok(StatusCode::NO_CONTENT)
}
