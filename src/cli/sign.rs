//! Signing and verifying from the command line: `keygen`, `sign`, `verify`, and `policy`
//! (check a policy directory, list the server's policies, re-check stored verdicts).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use reqwest::Method;

use super::output::Out;
use super::registry::RegistryArgs;
use super::resolve::split_spec;
use super::skill::SkillRef;
use super::{Client, RemoteArgs, print_json};
use crate::oci::{Registries, parse_reference};
use crate::policy::cosign::{self, SimpleSigning};
use crate::policy::verify::{Subject, evaluate};
use crate::policy::{PolicySet, SignatureStatus, Verdict};

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (encrypted with $SKILLDEX_KEY_PASSWORD or $COSIGN_PASSWORD, mode
    /// 0600) and PREFIX.pub.
    #[arg(long, short, default_value = "skilldex")]
    pub output: PathBuf,
}

pub fn keygen(args: KeygenArgs) -> anyhow::Result<()> {
    let private = args.output.with_extension("key");
    let public = args.output.with_extension("pub");
    for p in [&private, &public] {
        if p.exists() {
            bail!("{} already exists; not overwriting a key", p.display());
        }
    }
    let (key, pubkey) = cosign::generate_key(&cosign::key_password()).map_err(|e| anyhow!(e))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private)
        .with_context(|| format!("cannot write {}", private.display()))?;
    file.write_all(key.as_bytes())?;
    std::fs::write(&public, pubkey).with_context(|| format!("cannot write {}", public.display()))?;
    eprintln!("wrote {} (private, keep it safe) and {}", private.display(), public.display());
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The artifact: `registry/repo@sha256:…` or `registry/repo:tag` (signed by its digest).
    pub reference: String,
    /// The private key (from `skilldex keygen`, or a PKCS#8 PEM key).
    #[arg(long)]
    pub key: PathBuf,
    /// A signed annotation, `key=value` (repeatable); policies can require them.
    #[arg(long = "annotation", short = 'a', value_parser = parse_annotation)]
    pub annotations: Vec<(String, String)>,
}

fn parse_annotation(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not key=value"))
}

pub async fn sign(args: SignArgs) -> anyhow::Result<()> {
    let r = parse_reference(&args.reference)?;
    let registries = args.registry.registries(r.resolve_registry());
    let annotations = args.annotations.into_iter().collect();
    let pinned = sign_artifact(&registries, &args.reference, &args.key, annotations).await?;
    eprintln!("signed {pinned}");
    Ok(())
}

/// A cosign legacy signature made with a local key.
pub struct SignedPayload {
    /// The simple-signing JSON.
    pub payload: Vec<u8>,
    /// Base64, as cosign stores it.
    pub signature: String,
    key: sigstore::crypto::CosignVerificationKey,
}

impl SignedPayload {
    /// Whether `signature` (base64) over the same payload was made by the same key.
    pub fn same_signer(&self, signature: &str) -> bool {
        let sig = sigstore::crypto::Signature::Base64Encoded(signature.as_bytes());
        self.key.verify_signature(sig, &self.payload).is_ok()
    }
}

/// Signs `repository@digest` (cosign's simple-signing payload) with the key at `key`.
pub fn sign_payload(
    key: &Path,
    repository: &str,
    digest: &str,
    annotations: BTreeMap<String, String>,
) -> anyhow::Result<SignedPayload> {
    let signer = cosign::load_signer(key, &cosign::key_password()).map_err(|e| anyhow!(e))?;
    let payload = SimpleSigning::new(repository, digest, annotations).to_bytes();
    let signature = cosign::sign(&signer, &payload).map_err(|e| anyhow!(e))?;
    let key = signer.to_verification_key().map_err(|e| anyhow!("{e}"))?;
    Ok(SignedPayload { payload, signature, key })
}

/// Signs the artifact `reference` names with the key at `key` and attaches the signature
/// (cosign's legacy `.sig` form, next to any already there). Returns the pinned reference.
pub async fn sign_artifact(
    registries: &Registries,
    reference: &str,
    key: &Path,
    annotations: BTreeMap<String, String>,
) -> anyhow::Result<String> {
    let r = parse_reference(reference)?;
    let digest = registries.resolve(&r).await.with_context(|| format!("cannot find {reference}"))?;
    let repository = format!("{}/{}", r.registry(), r.repository());
    let signed = sign_payload(key, &repository, &digest, annotations)?;
    let (payload, signature) = (signed.payload.clone(), signed.signature.clone());
    let same_signer = move |sig: &str| signed.same_signer(sig);
    let added = crate::oci::signatures::push_legacy(registries, &r, &digest, payload, signature, &same_signer)
        .await
        .with_context(|| format!("cannot attach the signature to {repository}"))?;
    if !added {
        eprintln!("{repository}@{digest} already carries a signature by this key");
    }
    Ok(format!("{repository}@{digest}"))
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub remote: RemoteArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// `namespace/name[@version|range|channel]` (resolved by the server), or an artifact
    /// `registry/repo@sha256:…` / `registry/repo:tag`.
    pub target: String,
    /// The trust policy file to verify against.
    #[arg(long)]
    pub policy: PathBuf,
    /// The skill name that picks the policy's rule, for an artifact reference (default: the
    /// repository's last path segment).
    #[arg(long)]
    pub skill: Option<String>,
}

pub async fn verify(args: VerifyArgs, out: Out) -> anyhow::Result<()> {
    let set = PolicySet::load_file(&args.policy)?;
    let is_artifact = match args.target.split_once('@') {
        Some((_, after)) => after.starts_with("sha256:"),
        None => args.target.contains(':'),
    };
    let verdict = if is_artifact {
        let r = parse_reference(&args.target)?;
        let name = args.skill.clone().unwrap_or_else(|| r.repository().rsplit('/').next().unwrap_or("").to_owned());
        let registries = args.registry.registries(r.resolve_registry());
        let policies: Vec<_> = set.policies.iter().collect();
        verify_artifact(&registries, &args.target, &policies, &name).await?
    } else {
        let (skill, spec) = split_spec(&args.target);
        let skill = SkillRef::typed(skill)?;
        let client = Client::new(&args.remote)?;
        let resolved = super::resolve::resolve_skill(&client, &skill, spec).await?;
        let registries =
            args.registry.registries_with_server(parse_reference(&resolved.reference)?.resolve_registry(), &client);
        let policies = set.applicable(skill.scope.as_str());
        if policies.is_empty() {
            bail!("{} does not cover namespace `{}`", args.policy.display(), skill.scope);
        }
        verify_artifact(&registries, &resolved.reference, &policies, skill.slug.as_str()).await?
    };
    out.show(&verdict, |v| match (v.status, &v.identity) {
        (SignatureStatus::Verified, Some(who)) => println!("verified: signed by {who}"),
        (status, _) => println!("{}", status.as_str()),
    })?;
    if verdict.status != SignatureStatus::Verified {
        bail!("not verified: {}", reasons(&verdict));
    }
    Ok(())
}

/// Verifies, here and offline but for reading the registry, the signatures attached to
/// `reference` against `policies` for skill `name`.
pub(super) async fn verify_artifact(
    registries: &Registries,
    reference: &str,
    policies: &[&crate::policy::Policy],
    name: &str,
) -> anyhow::Result<Verdict> {
    let r = parse_reference(reference)?;
    let digest = registries.resolve(&r).await.with_context(|| format!("cannot find {reference}"))?;
    let pinned = r.clone_with_digest(digest.clone());
    let (manifest, _) = registries.manifest(&pinned).await?;
    let found = crate::oci::signatures::discover(registries, &r, &digest).await.map_err(|e| e.to_string());
    evaluate(policies, name, Subject { digest: &digest, manifest: &manifest }, &found)
        .await
        .ok_or_else(|| anyhow!("no policy to verify against"))
}

pub(super) fn reasons(verdict: &Verdict) -> String {
    let failing = verdict.policies.iter().filter(|p| p.status != SignatureStatus::Verified);
    failing
        .map(|p| format!("policy `{}` ({}): {}", p.policy, p.status.as_str(), p.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Load a policy directory (or file) the way the server does and report any error.
    Check { path: PathBuf },
    /// The policies the server has in force (site administrators).
    List,
    /// Check stored signature verdicts again where policies or trust roots changed.
    Reevaluate {
        /// Only this namespace.
        #[arg(long)]
        namespace: Option<String>,
        /// Every version, not only those whose policies changed.
        #[arg(long)]
        all: bool,
    },
}

pub async fn policy(command: PolicyCommand, remote: &RemoteArgs) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Check { path } => {
            let set = if path.is_dir() { PolicySet::load_dir(&path)? } else { PolicySet::load_file(&path)? };
            for p in &set.policies {
                println!(
                    "{}: {} ({}, {} rule(s)) {}",
                    p.file.display(),
                    p.name,
                    p.mode.as_str(),
                    p.rules.len(),
                    p.hash
                );
            }
            Ok(())
        }
        PolicyCommand::List => print_json(&Client::new(remote)?.get::<serde_json::Value>("/api/v1/policies").await?),
        PolicyCommand::Reevaluate { namespace, all } => {
            let body = serde_json::json!({ "namespace": namespace, "all": all });
            let out: serde_json::Value =
                Client::new(remote)?.send(Method::POST, "/api/v1/policies/reevaluate", Some(&body)).await?;
            print_json(&out)
        }
    }
}
