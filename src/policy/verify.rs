//! Deciding whether the signatures found next to an artifact satisfy the policies that
//! cover it. Everything here is offline: the artifact's signatures are read beforehand
//! (`oci::signatures`), and keyless checks use each authority's pinned trusted root.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sigstore::bundle::verify::{ArtifactDigest, PolicyError, VerificationPolicy};
use sigstore::crypto::{CosignVerificationKey, Signature};

use super::cosign::{self, RekorBundle, SimpleSigning};
use super::{Authority, AuthorityKind, Keyless, Mode, Policy, combined_hashes, glob_match};

/// A signature found next to an artifact, not yet checked.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// A layer of the cosign `sha256-<hex>.sig` manifest.
    Legacy { origin: String, payload: Vec<u8>, signature: String, certificate: Option<String>, rekor: Option<String> },
    /// A Sigstore bundle attached as a referrer.
    Bundle { origin: String, json: Vec<u8> },
    /// A signature whose content could not be used (too large, not what its descriptor
    /// says, missing): it vouches for nothing, and the verdict says why.
    Unreadable { origin: String, reason: String },
}

impl Candidate {
    fn origin(&self) -> &str {
        match self {
            Candidate::Legacy { origin, .. }
            | Candidate::Bundle { origin, .. }
            | Candidate::Unreadable { origin, .. } => origin,
        }
    }
}

/// The artifact being checked: its digest and its top manifest's exact bytes.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub digest: &'a str,
    pub manifest: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureStatus {
    /// Enough signatures verified under the policy.
    Verified,
    /// No signature at all.
    Unsigned,
    /// Signatures exist, but not enough of them verify.
    Invalid,
    /// Signatures could not be looked for (the registry failed).
    Error,
}

impl SignatureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureStatus::Verified => "verified",
            SignatureStatus::Unsigned => "unsigned",
            SignatureStatus::Invalid => "invalid",
            SignatureStatus::Error => "error",
        }
    }
}

/// The outcome for one version under every policy that covers it; stored with the version.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub status: SignatureStatus,
    /// Who signed: a Fulcio identity, or `key:<authority>` for a key signature.
    pub identity: Option<String>,
    pub issuer: Option<String>,
    pub policy_hash: String,
    pub trust_root_hash: Option<String>,
    pub checked_at: String,
    pub policies: Vec<PolicyVerdict>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyVerdict {
    pub policy: String,
    pub mode: Mode,
    pub rule: Option<String>,
    pub status: SignatureStatus,
    pub reason: String,
    pub signers: Vec<Signer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signer {
    pub authority: String,
    pub identity: Option<String>,
    pub issuer: Option<String>,
    /// Where the signature was found.
    pub origin: String,
}

impl Verdict {
    /// The first enforcing policy this verdict fails, if any.
    pub fn enforced_failure(&self) -> Option<&PolicyVerdict> {
        self.policies.iter().find(|p| p.mode == Mode::Enforce && p.status != SignatureStatus::Verified)
    }

    /// Whether this verdict was made under the hashes given (the current ones).
    pub fn is_current(&self, hashes: &(String, Option<String>)) -> bool {
        self.policy_hash == hashes.0 && self.trust_root_hash == hashes.1
    }
}

/// Evaluates `policies` (all covering the skill's namespace) for `skill` against what was
/// found next to `subject`. `found` is `Err` when the registry could not be asked.
pub async fn evaluate(
    policies: &[&Policy],
    skill: &str,
    subject: Subject<'_>,
    found: &Result<Vec<Candidate>, String>,
) -> Option<Verdict> {
    let (policy_hash, trust_root_hash) = combined_hashes(policies)?;
    let mut verdicts = Vec::new();
    for policy in policies {
        verdicts.push(evaluate_one(policy, skill, subject, found).await);
    }
    let worst = [SignatureStatus::Error, SignatureStatus::Invalid, SignatureStatus::Unsigned]
        .into_iter()
        .find(|s| verdicts.iter().any(|v| v.status == *s))
        .unwrap_or(SignatureStatus::Verified);
    let signer = verdicts.iter().flat_map(|v| v.signers.first()).next();
    Some(Verdict {
        status: worst,
        identity: signer.and_then(|s| s.identity.clone()),
        issuer: signer.and_then(|s| s.issuer.clone()),
        policy_hash,
        trust_root_hash,
        checked_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        policies: verdicts,
    })
}

async fn evaluate_one(
    policy: &Policy,
    skill: &str,
    subject: Subject<'_>,
    found: &Result<Vec<Candidate>, String>,
) -> PolicyVerdict {
    let mut out = PolicyVerdict {
        policy: policy.name.clone(),
        mode: policy.mode,
        rule: None,
        status: SignatureStatus::Invalid,
        reason: String::new(),
        signers: Vec::new(),
    };
    let Some(rule) = policy.rules.iter().find(|r| r.skills.iter().any(|g| glob_match(g, skill))) else {
        out.reason = format!("no rule of policy `{}` covers skill `{skill}`", policy.name);
        return out;
    };
    out.rule = Some(rule.name.clone());
    let candidates = match found {
        Ok(c) => c,
        Err(e) => {
            out.status = SignatureStatus::Error;
            out.reason = format!("cannot look for signatures: {e}");
            return out;
        }
    };
    if candidates.is_empty() {
        out.status = SignatureStatus::Unsigned;
        out.reason = format!("rule `{}` needs a signature; none is attached to {}", rule.name, subject.digest);
        return out;
    }
    let mut rejections = Vec::new();
    for candidate in candidates {
        let mut why = Vec::new();
        for authority in &rule.authorities {
            match check(candidate, authority, subject, &rule.required_annotations).await {
                Ok(signer) => {
                    out.signers.push(signer);
                    why.clear();
                    break;
                }
                Err(reason) => why.push(format!("{}: {reason}", authority.name)),
            }
        }
        if !why.is_empty() {
            rejections.push(format!("{} ({})", candidate.origin(), why.join("; ")));
        }
    }
    let names: Vec<&str> = out.signers.iter().map(|s| s.authority.as_str()).collect();
    if out.signers.len() >= rule.min_signatures {
        out.status = SignatureStatus::Verified;
        out.reason = format!("rule `{}`: {} signature(s) verified by {}", rule.name, names.len(), names.join(", "));
    } else {
        rejections.truncate(4);
        out.reason = format!(
            "rule `{}` needs {} verified signature(s), {} verified; rejected: {}",
            rule.name,
            rule.min_signatures,
            out.signers.len(),
            rejections.join(" | ")
        );
    }
    out
}

/// One signature against one authority: the signer it proves, or why it does not.
async fn check(
    candidate: &Candidate,
    authority: &Authority,
    subject: Subject<'_>,
    required: &BTreeMap<String, String>,
) -> Result<Signer, String> {
    let signer = |identity: Option<String>, issuer: Option<String>| Signer {
        authority: authority.name.clone(),
        identity,
        issuer,
        origin: candidate.origin().to_owned(),
    };
    match candidate {
        Candidate::Legacy { payload, signature, certificate, rekor, .. } => {
            let parsed: SimpleSigning = serde_json::from_slice(payload)
                .map_err(|_| "the payload is not a cosign simple-signing payload".to_owned())?;
            if parsed.critical.kind != cosign::SIGNATURE_TYPE {
                return Err(format!("the payload's type is `{}`", parsed.critical.kind));
            }
            let signed = &parsed.critical.image.docker_manifest_digest;
            if signed != subject.digest {
                return Err(format!("it signs {signed}, not this artifact (copied from another artifact?)"));
            }
            check_annotations(&parsed.annotations(), required)?;
            match &authority.kind {
                AuthorityKind::Key(key) => {
                    verify_with_key(key, signature.as_bytes(), payload, true)?;
                    Ok(signer(Some(format!("key:{}", authority.name)), None))
                }
                AuthorityKind::Keyless(k) => {
                    let cert = certificate.as_deref().ok_or("it has no certificate, so no keyless identity")?;
                    let rekor = rekor.as_deref().ok_or("it has no Rekor bundle to prove when it was signed")?;
                    let rekor: RekorBundle =
                        serde_json::from_str(rekor).map_err(|e| format!("its Rekor bundle is malformed: {e}"))?;
                    let bundle = cosign::legacy_as_bundle(payload, signature, cert, &rekor)?;
                    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(payload).into();
                    let json = serde_json::to_value(&bundle).map_err(|e| e.to_string())?;
                    let (identity, issuer) = verify_keyless(k, bundle, &json, digest.into()).await?;
                    Ok(signer(Some(identity), Some(issuer)))
                }
            }
        }
        Candidate::Unreadable { reason, .. } => Err(format!("it cannot be read: {reason}")),
        Candidate::Bundle { json, .. } => {
            let doc: Value = serde_json::from_slice(json).map_err(|e| format!("the bundle is not JSON: {e}"))?;
            let annotations = dsse_statement(&doc).map(|s| predicate_annotations(&s)).unwrap_or_default();
            check_annotations(&annotations, required)?;
            let digest = subject_digest(subject.digest)?;
            check_bundle_binds(&doc, subject.digest, &digest)?;
            match &authority.kind {
                AuthorityKind::Key(key) => {
                    if doc.pointer("/verificationMaterial/publicKey").is_none() {
                        return Err("the bundle is certificate-based, not made with a key".into());
                    }
                    verify_key_bundle(key, &doc, subject)?;
                    Ok(signer(Some(format!("key:{}", authority.name)), None))
                }
                AuthorityKind::Keyless(k) => {
                    let bundle: sigstore::bundle::Bundle =
                        serde_json::from_value(doc.clone()).map_err(|e| format!("the bundle is malformed: {e}"))?;
                    let (identity, issuer) = verify_keyless(k, bundle, &doc, digest.into()).await?;
                    Ok(signer(Some(identity), Some(issuer)))
                }
            }
        }
    }
}

fn check_annotations(signed: &BTreeMap<String, String>, required: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in required {
        if signed.get(k) != Some(v) {
            return Err(format!("it lacks the signed annotation `{k}: {v}`"));
        }
    }
    Ok(())
}

fn subject_digest(digest: &str) -> Result<[u8; 32], String> {
    let hex = digest.strip_prefix("sha256:").ok_or("only sha256 artifacts can be verified")?;
    let bytes = hex::decode(hex).map_err(|_| "bad artifact digest")?;
    bytes.try_into().map_err(|_| "bad artifact digest".to_owned())
}

fn b64_field(doc: &Value, pointer: &str) -> Result<Vec<u8>, String> {
    let s = doc.pointer(pointer).and_then(Value::as_str).ok_or_else(|| format!("the bundle has no `{pointer}`"))?;
    B64.decode(s).map_err(|_| format!("the bundle's `{pointer}` is not base64"))
}

/// The in-toto statement of a DSSE bundle, if it is one.
fn dsse_statement(doc: &Value) -> Option<Value> {
    let payload = b64_field(doc, "/dsseEnvelope/payload").ok()?;
    serde_json::from_slice(&payload).ok()
}

fn predicate_annotations(statement: &Value) -> BTreeMap<String, String> {
    let fields = statement.get("predicate").and_then(Value::as_object);
    fields.iter().flat_map(|m| m.iter()).filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect()
}

/// A bundle must be about this artifact: its message digest, or one of its statement's
/// subjects, is the artifact's digest. Checked first so a copied bundle says so.
fn check_bundle_binds(doc: &Value, digest: &str, raw: &[u8; 32]) -> Result<(), String> {
    if doc.get("messageSignature").is_some() {
        let signed = b64_field(doc, "/messageSignature/messageDigest/digest")?;
        if signed != raw {
            return Err(format!(
                "it signs sha256:{}, not this artifact (copied from another artifact?)",
                hex::encode(signed)
            ));
        }
        return Ok(());
    }
    let statement = dsse_statement(doc).ok_or("the bundle has neither a message signature nor an in-toto statement")?;
    let hex = digest.trim_start_matches("sha256:");
    let subjects = statement.get("subject").and_then(Value::as_array).cloned().unwrap_or_default();
    if subjects.iter().any(|s| s.pointer("/digest/sha256").and_then(Value::as_str) == Some(hex)) {
        Ok(())
    } else {
        Err("its statement is about another artifact (copied from another artifact?)".into())
    }
}

fn verify_with_key(key: &CosignVerificationKey, sig: &[u8], message: &[u8], base64: bool) -> Result<(), String> {
    let sig = if base64 { Signature::Base64Encoded(sig) } else { Signature::Raw(sig) };
    key.verify_signature(sig, message).map_err(|_| "the signature does not verify with this key".to_owned())
}

fn verify_key_bundle(key: &CosignVerificationKey, doc: &Value, subject: Subject<'_>) -> Result<(), String> {
    if doc.get("messageSignature").is_some() {
        let sig = b64_field(doc, "/messageSignature/signature")?;
        return verify_with_key(key, &sig, subject.manifest, false);
    }
    let payload = b64_field(doc, "/dsseEnvelope/payload")?;
    let payload_type = doc.pointer("/dsseEnvelope/payloadType").and_then(Value::as_str).unwrap_or_default();
    let sigs = doc.pointer("/dsseEnvelope/signatures").and_then(Value::as_array).cloned().unwrap_or_default();
    let [one] = sigs.as_slice() else {
        return Err("a DSSE envelope must carry exactly one signature".into());
    };
    let sig = B64.decode(one.get("sig").and_then(Value::as_str).unwrap_or_default()).map_err(|_| "bad DSSE sig")?;
    verify_with_key(key, &sig, &cosign::dsse_pae(payload_type, &payload), false)
}

/// Keyless: the identity must be the pinned one, and sigstore checks the certificate chain
/// (Fulcio CA, embedded SCT), the signature, the log entry's consistency and that the
/// certificate was valid when the entry was logged; the entry's signed timestamp is
/// checked here, as the crate leaves that out. Returns (identity, issuer).
async fn verify_keyless(
    k: &Keyless,
    bundle: sigstore::bundle::Bundle,
    doc: &Value,
    digest: ArtifactDigest,
) -> Result<(String, String), String> {
    let cert_b64 = doc
        .pointer("/verificationMaterial/certificate/rawBytes")
        .or_else(|| doc.pointer("/verificationMaterial/x509CertificateChain/certificates/0/rawBytes"))
        .and_then(Value::as_str)
        .ok_or("it has no certificate, so no keyless identity")?;
    let der = B64.decode(cert_b64).map_err(|_| "its certificate is not base64")?;
    let cert = <x509_cert::Certificate as x509_cert::der::Decode>::from_der(&der)
        .map_err(|e| format!("its certificate is malformed: {e}"))?;
    let (subject, issuer) = cert_identity(&cert);
    let subject = subject.ok_or("its certificate names no subject")?;
    let issuer = issuer.ok_or("its certificate names no OIDC issuer")?;
    if issuer != k.issuer {
        return Err(format!("issuer `{issuer}` is not the pinned `{}`", k.issuer));
    }
    if !k.subject.matches(&subject) {
        return Err(format!("identity `{subject}` is not {}", k.subject));
    }
    // Checked here too, before the crate, so an expired certificate is reported as such.
    let logged = doc
        .pointer("/verificationMaterial/tlogEntries/0/integratedTime")
        .and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    let validity = cert.tbs_certificate().validity();
    let (from, until) =
        (validity.not_before.to_unix_duration().as_secs(), validity.not_after.to_unix_duration().as_secs());
    if logged.is_some_and(|t| t > until) {
        return Err("the certificate had expired when the signature was logged".into());
    }
    if logged.is_some_and(|t| t < from) {
        return Err("the certificate was not yet valid when the signature was logged".into());
    }
    let pin = Pinned(k);
    k.root.verifier.verify_digest_with(digest, bundle, &pin, true).await.map_err(describe)?;
    let entry = doc.pointer("/verificationMaterial/tlogEntries/0").ok_or("it has no transparency log entry")?;
    let set = entry
        .pointer("/inclusionPromise/signedEntryTimestamp")
        .and_then(Value::as_str)
        .ok_or("its log entry has no signed entry timestamp")?;
    let set = B64.decode(set).map_err(|_| "its signed entry timestamp is not base64")?;
    let log_id = hex::encode(b64_field(entry, "/logId/keyId")?);
    let number =
        |p: &str| entry.pointer(p).and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    let body = entry.pointer("/canonicalizedBody").and_then(Value::as_str).ok_or("its log entry has no body")?;
    let time = number("/integratedTime").ok_or("its log entry has no integrated time")?;
    let index = number("/logIndex").ok_or("its log entry has no index")?;
    cosign::verify_set(&k.root.rekor_keys, body, time, index, &log_id, &set)?;
    Ok((subject, issuer))
}

fn describe(e: sigstore::bundle::verify::VerificationError) -> String {
    let text = e.to_string();
    if text.to_lowercase().contains("expired") {
        "the certificate had expired when the signature was logged".into()
    } else if text.contains("VerificationFailed") || text.to_lowercase().contains("certificate verification failed") {
        format!("the certificate does not chain to the pinned trusted root ({text})")
    } else {
        text
    }
}

/// The identity checks again, for the sigstore verifier's policy hook.
struct Pinned<'a>(&'a Keyless);

impl VerificationPolicy for Pinned<'_> {
    fn verify(&self, cert: &x509_cert::Certificate) -> Result<(), PolicyError> {
        let (subject, issuer) = cert_identity(cert);
        let failed = |extension: &str, expected: String, actual: Option<String>| PolicyError::ExtensionCheckFailed {
            extension: extension.into(),
            expected,
            actual: actual.unwrap_or_default(),
        };
        if issuer.as_deref() != Some(self.0.issuer.as_str()) {
            return Err(failed("issuer", self.0.issuer.clone(), issuer));
        }
        if !subject.as_deref().is_some_and(|s| self.0.subject.matches(s)) {
            return Err(failed("subject", self.0.subject.to_string(), subject));
        }
        Ok(())
    }
}

/// The certificate's subject (e-mail, URI or Sigstore other-name SAN) and OIDC issuer.
fn cert_identity(cert: &x509_cert::Certificate) -> (Option<String>, Option<String>) {
    use x509_cert::der::Decode as _;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;
    const ISSUER_V1: &str = "1.3.6.1.4.1.57264.1.1";
    const ISSUER_V2: &str = "1.3.6.1.4.1.57264.1.8";
    const OTHER_NAME: &str = "1.3.6.1.4.1.57264.1.7";

    let exts = cert.tbs_certificate().extensions().map(Vec::as_slice).unwrap_or(&[]);
    let mut subject = None;
    let mut issuer_v1 = None;
    let mut issuer_v2 = None;
    for ext in exts {
        let oid = ext.extn_id.to_string();
        let value = ext.extn_value.as_bytes();
        if oid == "2.5.29.17" {
            if let Ok(san) = SubjectAltName::from_der(value) {
                subject = san.0.iter().find_map(|n| match n {
                    GeneralName::Rfc822Name(s) => Some(s.to_string()),
                    GeneralName::UniformResourceIdentifier(s) => Some(s.to_string()),
                    GeneralName::OtherName(o) if o.type_id.to_string() == OTHER_NAME => {
                        std::str::from_utf8(o.value.value()).ok().map(str::to_owned)
                    }
                    _ => None,
                });
            }
        } else if oid == ISSUER_V1 {
            issuer_v1 = std::str::from_utf8(value).ok().map(str::to_owned);
        } else if oid == ISSUER_V2 {
            issuer_v2 = x509_cert::der::asn1::Utf8StringRef::from_der(value).ok().map(|s| s.as_str().to_owned());
        }
    }
    (subject, issuer_v2.or(issuer_v1))
}
