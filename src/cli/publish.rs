//! `skilldex publish DIR [--to REGISTRY/REPO]`: pack, then push the artifact and register
//! it, or upload it for the server to store; optionally signed. A first publish creates the
//! skill (private unless `--public`) only once its version is stored.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::Method;

use super::output::{Exit, Out, fail, note, progress, warn};
use super::registry::RegistryArgs;
use super::skill::SkillRef;
use super::{Client, RemoteArgs};
use crate::api::wire::{
    CreateVersionRequest, CreateVersionResponse, FinalizeRequest, NewSkillFields, RegistryCredentials,
    SetChannelRequest, SignatureUpload, SkillDetail, UploadReceived, VersionResponse,
};
use crate::bundle::{Bundle, source_date_epoch};
use crate::domain::{Namespace, Visibility};
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
    /// On a first publish, make the skill visible to everyone (default: private, visible to
    /// the namespace's members only). An existing skill keeps its visibility.
    #[arg(long, conflicts_with = "private")]
    pub public: bool,
    /// On a first publish, keep the skill private (the default).
    #[arg(long)]
    pub private: bool,
    /// What changed in this version.
    #[arg(long, value_name = "TEXT")]
    pub changelog: Option<String>,
    /// Also point this channel (e.g. `stable`) at the new version.
    #[arg(long, value_name = "NAME")]
    pub channel: Option<String>,
    /// Publish as a draft, visible to the namespace's members only (uploads only).
    #[arg(long, conflicts_with = "to")]
    pub draft: bool,
    /// Check everything and say what would be published, without publishing.
    #[arg(long)]
    pub dry_run: bool,
    /// Sign the artifact with this private key (cosign's legacy form, next to any signatures
    /// already there). With --to it is signed after the push; on upload the server says
    /// which artifact it will store, the signature goes with finalize and is checked against
    /// the namespace's trust policies before anything is stored.
    #[arg(long, value_name = "KEY")]
    pub sign_key: Option<PathBuf>,
}

pub async fn run(args: PublishArgs, out: Out) -> anyhow::Result<()> {
    let bundle = Bundle::from_dir(&args.dir, &super::bundle_limits()?)?;
    let fm = bundle.skill.frontmatter.clone();
    let version = match (&args.version, &fm.version) {
        (Some(v), _) => crate::domain::parse_version(v)?,
        (None, Some(v)) => v.clone(),
        (None, None) => return Err(fail(Exit::Usage, "SKILL.md has no `version`; pass --version")),
    };
    bundle.check_identity(fm.name.as_str(), &version)?;
    let skill = SkillRef { scope: args.namespace.clone(), slug: fm.name.clone() };
    let api = Client::new(&args.remote)?;
    let packed = bundle.pack(source_date_epoch().unwrap_or(0));
    let version_s = version.to_string();

    // The skill is created with its first version, by the server, only once it is stored.
    let existing = match api.get::<SkillDetail>(&skill.path()).await {
        Ok(d) => Some(d),
        Err(e) if super::output::exit_of(&e) == Exit::NotFound => None,
        Err(e) => return Err(e),
    };
    let visibility = if args.public { Visibility::Public } else { Visibility::Private };
    let create = match &existing {
        None => {
            if !args.public {
                note(format!(
                    "{skill} is new: it will be private, visible to members of `{}` only (publish with --public, or later `skilldex skill edit {skill} --visibility public`)",
                    skill.scope
                ));
            }
            Some(NewSkillFields {
                description: Some(fm.description.clone()),
                visibility: Some(visibility),
                ..Default::default()
            })
        }
        Some(d) => {
            if (args.public || args.private) && d.summary.visibility != visibility {
                warn(format!(
                    "{skill} stays {}: change it with `skilldex skill edit {skill} --visibility {visibility}`",
                    d.summary.visibility
                ));
            }
            None
        }
    };
    if args.dry_run {
        if existing.is_some() {
            let exact = super::resolve::resolve_skill(&api, &skill, Some(&version_s)).await;
            if exact.is_ok() {
                return Err(fail(
                    Exit::Conflict,
                    format!("{skill}@{version_s} exists already: versions are immutable"),
                ));
            }
        }
        let plan = serde_json::json!({
            "skill": skill.to_string(),
            "version": version_s,
            "new": existing.is_none(),
            "visibility": existing.as_ref().map_or(visibility, |d| d.summary.visibility),
            "files": bundle.files.len(),
            "archiveSize": packed.tar_gz.len(),
            "to": args.to,
        });
        return out.show(&plan, |_| {
            note(format!(
                "would publish {skill}@{version_s} ({} files, {} bytes packed){}; nothing was published (--dry-run)",
                bundle.files.len(),
                packed.tar_gz.len(),
                if existing.is_none() { format!(", creating it {visibility}") } else { String::new() }
            ))
        });
    }
    let versions = format!("{}/versions", skill.path());

    let published: VersionResponse = match &args.to {
        None => {
            // The upload path: prepare, PUT the archive, finalize.
            let prepare = CreateVersionRequest {
                version: version_s.clone(),
                file_tree: Some(bundle.file_tree()),
                archive_sha256: Some(sha256_digest(&packed.tar_gz).trim_start_matches("sha256:").to_owned()),
                archive_size: Some(packed.tar_gz.len() as i64),
                entry_point: Some(crate::bundle::SKILL_MD.into()),
                manifest_json: Some(bundle.skill.frontmatter_json.clone()),
                create,
                ..Default::default()
            };
            let CreateVersionResponse::Prepared(prepared) = api.send(Method::POST, &versions, Some(&prepare)).await?
            else {
                return Err(fail(Exit::Failure, "the server did not prepare an upload"));
            };
            let bar = progress(packed.tar_gz.len() as u64, format!("uploading {skill}@{version_s}"));
            let counter = bar.clone();
            // The archive goes to the server this command talks to, whatever host the answer
            // names (a server behind a proxy may not know its public address): the token is
            // never sent anywhere else.
            let upload_url = format!(
                "{}/api/v1/uploads/{}",
                api.base(),
                form_urlencoded::byte_serialize(prepared.version_id.as_bytes()).collect::<String>()
            );
            let received = api.put_bytes(&upload_url, packed.tar_gz.clone(), move |n| counter.inc(n)).await?;
            bar.finish();
            let mut signatures = Vec::new();
            if let Some(key) = &args.sign_key {
                let received: UploadReceived = serde_json::from_slice(&received)
                    .context("the server did not say which artifact it will store, so it cannot be signed")?;
                let (repository, _) = received.reference.split_once('@').unwrap_or((&received.reference, ""));
                let signed = super::sign::sign_payload(key, repository, &received.digest, Default::default())?;
                signatures.push(SignatureUpload { payload: B64.encode(&signed.payload), signature: signed.signature });
                note(format!("signed {}", received.reference));
            }
            let finalize = FinalizeRequest {
                status: args.draft.then_some(crate::domain::VersionStatus::Draft),
                changelog: args.changelog.clone(),
                signatures,
                version_id: Some(prepared.version_id.clone()),
            };
            let path = format!("{versions}/{version_s}/finalize");
            api.send(Method::POST, &path, Some(&finalize)).await?
        }
        Some(to) => {
            let id = Identity { namespace: skill.scope.as_str(), name: skill.slug.as_str(), version: &version_s };
            let artifact = build_toolhive(&bundle, &packed, &id, source_date_epoch());
            let target = parse_reference(&format!("{}:{version_s}", to.trim_end_matches('/')))?;
            let registries = Arc::new(args.registry.registries(target.resolve_registry()));
            let bar = progress(artifact.size(), format!("pushing {}", target.whole()));
            registries
                .push(&target, &artifact, &|n| bar.inc(n))
                .await
                .map_err(|e| fail(Exit::Network, format!("pushing to {}: {e}", target.whole())))?;
            bar.finish();
            note(format!("pushed {}@{}", target.whole(), artifact.digest()));
            let reference = format!("{}/{}@{}", target.registry(), target.repository(), artifact.digest());
            if let Some(key) = &args.sign_key {
                super::sign::sign_artifact(&registries, &reference, key, Default::default()).await?;
                note(format!("signed {reference}"));
            }
            // The server reads the artifact with the credentials this push used, never with its own.
            let credentials =
                RegistryCredentials::from_credentials(&args.registry.credentials_for(target.resolve_registry()));
            let body = CreateVersionRequest {
                version: version_s.clone(),
                reference: Some(reference),
                registry_credentials: credentials,
                create,
                changelog: args.changelog.clone(),
                ..Default::default()
            };
            let CreateVersionResponse::Registered(registered) = api.send(Method::POST, &versions, Some(&body)).await?
            else {
                return Err(fail(Exit::Failure, "the server did not register the version"));
            };
            registered
        }
    };
    if let Some(channel) = &args.channel {
        let path = format!("{}/channels/{channel}", skill.path());
        let body = SetChannelRequest { version: published.version.clone() };
        api.send::<_, serde_json::Value>(Method::PUT, &path, Some(&body)).await?;
    }
    // Said as the server has it: another publish may have created the skill meanwhile.
    let now = api.get::<SkillDetail>(&skill.path()).await.map(|d| d.summary.visibility).ok();
    if existing.is_none() && now.is_some_and(|v| v != visibility) {
        warn(format!(
            "{skill} was created by someone else meanwhile, {}; the version went into it",
            now.expect("checked")
        ));
    }
    out.show(&published, |v| {
        let channel = args.channel.as_ref().map(|c| format!(", channel {c}")).unwrap_or_default();
        let shown = now.map(|v| format!(", {v}")).unwrap_or_default();
        note(format!("published {skill}@{} ({}{channel}{shown})", v.version, v.digest.as_deref().unwrap_or("-")))
    })
}
