//! `skilldex resolve namespace/name[@version|range|channel]`.

use super::output::{Out, warn};
use super::skill::SkillRef;
use super::{Client, RemoteArgs};
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

pub async fn run(args: ResolveArgs, out: Out) -> anyhow::Result<()> {
    let (skill, spec) = split_spec(&args.skill);
    let skill = SkillRef::typed(skill)?;
    let resolved = resolve_skill(&Client::new(&args.remote)?, &skill, spec).await?;
    if resolved.yanked {
        warn(format!("{}/{}@{} is yanked", resolved.namespace, resolved.name, resolved.version));
    }
    if resolved.deprecated {
        let why = resolved.deprecation_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
        warn(format!("{}/{} is deprecated{why}", resolved.namespace, resolved.name));
    }
    out.show(&resolved, |r| {
        println!("{}/{}@{}", r.namespace, r.name, r.version);
        println!("digest     {}", r.digest);
        println!("reference  {}", r.reference);
        if let Some(layout) = &r.layout {
            println!("layout     {layout}");
        }
        if let Some(status) = r.signature.as_ref().and_then(|s| s.get("status")).and_then(|s| s.as_str()) {
            println!("signature  {status}");
        }
        for d in &r.dependencies {
            let indent = "  ".repeat(d.depth);
            match &d.resolved {
                Some(p) => println!(
                    "requires {indent}{}/{}@{} ({}) for `{}`",
                    p.namespace,
                    p.name,
                    p.version,
                    p.digest,
                    d.requirement.escape_debug()
                ),
                None => println!(
                    "requires {indent}{} (unresolved: nothing here matches it that you may read)",
                    d.requirement.escape_debug()
                ),
            }
        }
    })
}

/// Asks the server which artifact `skill@spec` resolves to.
pub async fn resolve_skill(client: &Client, skill: &SkillRef, spec: Option<&str>) -> anyhow::Result<ResolveResponse> {
    let mut url = reqwest::Url::parse("http://localhost/").expect("static URL");
    url.set_path(&format!("/api/v1/resolve/{}/{}", skill.scope, skill.slug));
    if let Some(spec) = spec {
        url.query_pairs_mut().append_pair("version", spec);
    }
    let path = format!("{}{}", url.path(), url.query().map(|q| format!("?{q}")).unwrap_or_default());
    client.get(&path).await
}
