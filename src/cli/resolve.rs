//! `skilldex resolve namespace/name[@version|range|channel]`.

use super::{Client, RemoteArgs, print_json};
use crate::api::wire::ResolveResponse;

#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// `namespace/name`, optionally `@1.2.3`, `@^1.2` or `@stable`.
    pub skill: String,
}

/// Splits `ns/name@spec` into the skill and the version spec.
pub fn split_spec(s: &str) -> (&str, Option<&str>) {
    match s.split_once('@') {
        Some((skill, spec)) => (skill, Some(spec)),
        None => (s, None),
    }
}

pub async fn run(args: ResolveArgs) -> anyhow::Result<()> {
    let (skill, spec) = split_spec(&args.skill);
    let skill: super::skill::SkillRef = skill.parse()?;
    print_json(&resolve_skill(&args.remote, &skill, spec).await?)
}

/// Asks the server which artifact `skill@spec` resolves to.
pub async fn resolve_skill(
    remote: &RemoteArgs,
    skill: &super::skill::SkillRef,
    spec: Option<&str>,
) -> anyhow::Result<ResolveResponse> {
    let mut url = reqwest::Url::parse("http://localhost/").expect("static URL");
    url.set_path(&format!("/api/v1/resolve/{}/{}", skill.scope, skill.slug));
    if let Some(spec) = spec {
        url.query_pairs_mut().append_pair("version", spec);
    }
    let path = format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default());
    Client::new(remote)?.get(&path).await
}
