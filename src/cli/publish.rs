//! `skilldex publish DIR [--to REGISTRY/REPO]`: pack, then push the artifact and register
//! it, or upload it for the server to store; optionally signed.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;

use super::registry::RegistryArgs;
use super::skill::SkillRef;
use super::{Client, RemoteArgs, print_json};
use crate::api::wire::{
    CreateSkillRequest, CreateVersionRequest, CreateVersionResponse, FinalizeRequest, RegistryCredentials,
    SignatureUpload, UploadReceived, VersionResponse,
};
use crate::bundle::{Bundle, source_date_epoch};
use crate::domain::Namespace;
use crate::oci::layout::{Identity, build_toolhive, sha256_digest};
use crate::oci::parse_reference;

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The skill directory (with SKILL.md at its root).
    pub dir: PathBuf,
    /// Push the artifact yourself to this repository (e.g. `ghcr.io/acme/skills/code-reviewer`,
    /// tagged with the version), then register it. Without it, the archive is uploaded to the
    /// server, which stores it in its own registry.
    #[arg(long, value_name = "REGISTRY/REPO")]
    pub to: Option<String>,
    /// The namespace to publish in.
    #[arg(long, short, env = "SKILLDEX_NAMESPACE")]
    pub namespace: Namespace,
    /// The version; default: SKILL.md's `version`.
    #[arg(long)]
    pub version: Option<String>,
    /// Sign the artifact with this private key (cosign's legacy form, next to any signatures
    /// already there). With --to it is signed after the push; on upload the server says
    /// which artifact it will store, the signature goes with finalize and is checked against
    /// the namespace's trust policies before anything is stored.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
}

pub async fn run(args: PublishArgs) -> anyhow::Result<()> {
    let bundle = Bundle::from_dir(&args.dir, &super::bundle_limits()?)?;
    let fm = bundle.skill.frontmatter.clone();
    let version = match (&args.version, &fm.version) {
        (Some(v), _) => crate::domain::parse_version(v)?,
        (None, Some(v)) => v.clone(),
        (None, None) => bail!("SKILL.md has no `version`; pass --version"),
    };
    bundle.check_identity(fm.name.as_str(), &version)?;
    let skill = SkillRef { scope: args.namespace.clone(), slug: fm.name.clone() };
    let api = Client::new(&args.remote)?;
    let packed = bundle.pack(source_date_epoch().unwrap_or(0));
    let version_s = version.to_string();

    // Publishing needs the skill; create it on first publish.
    if api.get::<serde_json::Value>(&skill_path(&skill)).await.is_err() {
        let body = CreateSkillRequest {
            scope: skill.scope.clone(),
            slug: skill.slug.clone(),
            display_name: None,
            description: Some(fm.description.clone()),
            readme: None,
            visibility: None,
            tags: None,
            skill_type: None,
        };
        api.send::<_, serde_json::Value>(Method::POST, "/api/v1/skills", Some(&body)).await?;
        eprintln!("created skill {}/{}", skill.scope, skill.slug);
    }
    let versions = format!("{}/versions", skill_path(&skill));

    let Some(to) = &args.to else {
        // The upload path: prepare, PUT the archive, finalize.
        let prepare = CreateVersionRequest {
            version: version_s.clone(),
            file_tree: Some(bundle.file_tree()),
            archive_sha256: Some(sha256_digest(&packed.tar_gz).trim_start_matches("sha256:").to_owned()),
            archive_size: Some(packed.tar_gz.len() as i64),
            entry_point: Some(crate::bundle::SKILL_MD.into()),
            manifest_json: Some(bundle.skill.frontmatter_json.clone()),
            ..Default::default()
        };
        let CreateVersionResponse::Prepared(prepared) = api.send(Method::POST, &versions, Some(&prepare)).await? else {
            bail!("the server did not prepare an upload");
        };
        let bar = progress(packed.tar_gz.len() as u64, format!("uploading {}/{}@{version_s}", skill.scope, skill.slug));
        let received = api.put_bytes(&prepared.upload_url, packed.tar_gz.clone()).await?;
        bar.finish();
        let mut signatures = Vec::new();
        if let Some(key) = &args.sign_key {
            let received: UploadReceived = serde_json::from_slice(&received)
                .context("the server did not say which artifact it will store, so it cannot be signed")?;
            let (repository, _) = received.reference.split_once('@').unwrap_or((&received.reference, ""));
            let signed = super::sign::sign_payload(key, repository, &received.digest, Default::default())?;
            signatures.push(SignatureUpload { payload: B64.encode(&signed.payload), signature: signed.signature });
            eprintln!("signed {}", received.reference);
        }
        let finalize = FinalizeRequest {
            status: None,
            changelog: None,
            signatures,
            version_id: Some(prepared.version_id.clone()),
        };
        let path = format!("{versions}/{version_s}/finalize");
        let published: VersionResponse = api.send(Method::POST, &path, Some(&finalize)).await?;
        return print_json(&published);
    };

    let id = Identity { namespace: skill.scope.as_str(), name: skill.slug.as_str(), version: &version_s };
    let artifact = build_toolhive(&bundle, &packed, &id, source_date_epoch());
    let target = parse_reference(&format!("{}:{version_s}", to.trim_end_matches('/')))?;
    let registries = Arc::new(args.registry.registries(target.resolve_registry()));
    let bar = progress(artifact.size(), format!("pushing {}", target.whole()));
    registries
        .push(&target, &artifact, &|n| bar.inc(n))
        .await
        .with_context(|| format!("pushing to {}", target.whole()))?;
    bar.finish_with_message(format!("pushed {}@{}", target.whole(), artifact.digest()));
    let reference = format!("{}/{}@{}", target.registry(), target.repository(), artifact.digest());
    if let Some(key) = &args.sign_key {
        super::sign::sign_artifact(&registries, &reference, key, Default::default()).await?;
        eprintln!("signed {reference}");
    }
    // The server reads the artifact with the credentials this push used, never with its own.
    let credentials = RegistryCredentials::from_credentials(&args.registry.credentials_for(target.resolve_registry()));
    let body = CreateVersionRequest {
        version: version_s,
        reference: Some(reference),
        registry_credentials: credentials,
        ..Default::default()
    };
    let CreateVersionResponse::Registered(registered) = api.send(Method::POST, &versions, Some(&body)).await? else {
        bail!("the server did not register the version");
    };
    print_json(&registered)
}

fn progress(total: u64, message: String) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar
}

fn skill_path(s: &SkillRef) -> String {
    format!("/api/v1/skills/{}/{}", s.scope, s.slug)
}
