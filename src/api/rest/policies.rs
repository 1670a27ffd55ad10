//! The trust policies in force, and re-checking stored signature verdicts against them.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Problems;
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::api::extract::Json;
use crate::domain::Namespace;
use crate::policy::{AuthorityKind, Policy};
use crate::service::{Caller, Reevaluation};

type Reply<T> = Result<T, ApiError>;

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    pub data: Vec<PolicyResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyResponse {
    pub name: String,
    pub file: String,
    pub namespaces: Vec<String>,
    /// enforce, warn or audit.
    pub mode: String,
    pub hash: String,
    pub trust_root_hash: Option<String>,
    pub rules: Vec<RuleResponse>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleResponse {
    pub name: String,
    pub skills: Vec<String>,
    pub min_signatures: usize,
    pub authorities: Vec<AuthorityResponse>,
    pub required_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorityResponse {
    pub name: String,
    /// key or keyless.
    pub kind: String,
    pub issuer: Option<String>,
    pub subject: Option<String>,
}

impl From<&Policy> for PolicyResponse {
    fn from(p: &Policy) -> Self {
        let rules = p
            .rules
            .iter()
            .map(|r| RuleResponse {
                name: r.name.clone(),
                skills: r.skills.clone(),
                min_signatures: r.min_signatures,
                required_annotations: r.required_annotations.clone(),
                authorities: r
                    .authorities
                    .iter()
                    .map(|a| match &a.kind {
                        AuthorityKind::Key(_) => {
                            AuthorityResponse { name: a.name.clone(), kind: "key".into(), issuer: None, subject: None }
                        }
                        AuthorityKind::Keyless(k) => AuthorityResponse {
                            name: a.name.clone(),
                            kind: "keyless".into(),
                            issuer: Some(k.issuer.clone()),
                            subject: Some(k.subject.to_string()),
                        },
                    })
                    .collect(),
            })
            .collect();
        PolicyResponse {
            name: p.name.clone(),
            file: p.file.display().to_string(),
            namespaces: p.namespaces.clone(),
            mode: p.mode.as_str().into(),
            hash: p.hash.clone(),
            trust_root_hash: p.trust_root_hash.clone(),
            rules,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReevaluateRequest {
    /// Only this namespace's versions; default: every namespace.
    #[schema(schema_with = crate::api::schema::namespace_opt)]
    pub namespace: Option<Namespace>,
    /// Check every version again, not only those whose policies or trust roots changed.
    #[serde(default)]
    pub all: bool,
}

/// The trust policies in force (site admins, admin scope).
#[utoipa::path(get, path = "/api/v1/policies", tag = "policies", security(("bearer" = [])),
    responses((status = 200, body = PolicyList), Problems))]
pub(super) async fn list_policies(State(state): State<AppState>, caller: Caller) -> Reply<axum::Json<PolicyList>> {
    let set = state.index.trust().policies_for(&caller)?;
    Ok(axum::Json(PolicyList { data: set.policies.iter().map(PolicyResponse::from).collect() }))
}

/// Check stored signature verdicts again where the policies or trust roots changed (site
/// admins, admin scope).
#[utoipa::path(post, path = "/api/v1/policies/reevaluate", tag = "policies", security(("bearer" = [])),
    request_body = ReevaluateRequest, responses((status = 200, body = Reevaluation), Problems))]
pub(super) async fn reevaluate(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<ReevaluateRequest>,
) -> Reply<axum::Json<Reevaluation>> {
    Ok(axum::Json(state.index.trust().reevaluate(&caller, req.namespace.as_ref(), req.all).await?))
}
