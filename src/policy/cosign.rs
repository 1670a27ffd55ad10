//! The cosign and Sigstore formats skilldex reads and writes: legacy `sha256-<hex>.sig`
//! signature manifests (simple-signing payloads with the signature, certificate and Rekor
//! bundle in layer annotations), Sigstore bundles, signed entry timestamps, and key files.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sigstore::crypto::signing_key::SigStoreKeyPair;
use sigstore::crypto::{CosignVerificationKey, SigStoreSigner, Signature, SigningScheme};

pub mod media {
    pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
    pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
    /// Older bundle media types, as some tools still label bundle layers.
    pub const BUNDLE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
}

pub mod annotations {
    pub const SIGNATURE: &str = "dev.cosignproject.cosign/signature";
    pub const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
    pub const CHAIN: &str = "dev.sigstore.cosign/chain";
    pub const BUNDLE: &str = "dev.sigstore.cosign/bundle";
}

/// The signature type cosign writes into every simple-signing payload.
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

/// The tag cosign keeps an artifact's legacy signatures under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The payload a legacy signature signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimpleSigning {
    pub critical: Critical,
    #[serde(default)]
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Critical {
    pub identity: CriticalIdentity,
    pub image: CriticalImage,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CriticalIdentity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CriticalImage {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// The payload for `repository` (`registry/repo`) at `digest`, with signed `annotations`.
    pub fn new(repository: &str, digest: &str, annotations: BTreeMap<String, String>) -> Self {
        SimpleSigning {
            critical: Critical {
                identity: CriticalIdentity { docker_reference: repository.to_owned() },
                image: CriticalImage { docker_manifest_digest: digest.to_owned() },
                kind: SIGNATURE_TYPE.to_owned(),
            },
            optional: (!annotations.is_empty())
                .then(|| annotations.into_iter().map(|(k, v)| (k, serde_json::Value::String(v))).collect()),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("payload serializes")
    }

    /// The signed annotations whose values are strings.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.optional.iter().flatten().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect()
    }
}

/// The Rekor bundle cosign stores in the `dev.sigstore.cosign/bundle` annotation.
#[derive(Debug, Clone, Deserialize)]
pub struct RekorBundle {
    #[serde(rename = "SignedEntryTimestamp")]
    pub signed_entry_timestamp: String,
    #[serde(rename = "Payload")]
    pub payload: RekorPayload,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RekorPayload {
    pub body: String,
    #[serde(rename = "integratedTime")]
    pub integrated_time: i64,
    #[serde(rename = "logIndex")]
    pub log_index: i64,
    #[serde(rename = "logID")]
    pub log_id: String,
}

/// Checks a transparency log's signed entry timestamp: the log's signature over the
/// canonical JSON of the entry's body, time, index and log ID. `log_id` is hex.
pub fn verify_set(
    keys: &BTreeMap<String, CosignVerificationKey>,
    body_b64: &str,
    integrated_time: i64,
    log_index: i64,
    log_id: &str,
    set: &[u8],
) -> Result<(), String> {
    // RFC 8785 canonical form: keys sorted, no spaces; every value here is an ASCII string
    // or an integer, which serde_json writes canonically.
    #[derive(Serialize)]
    struct Canonical<'a> {
        body: &'a str,
        #[serde(rename = "integratedTime")]
        integrated_time: i64,
        #[serde(rename = "logID")]
        log_id: &'a str,
        #[serde(rename = "logIndex")]
        log_index: i64,
    }
    let key = keys.get(log_id).ok_or_else(|| format!("the log entry is from an untrusted log ({log_id})"))?;
    let canonical = serde_json::to_vec(&Canonical { body: body_b64, integrated_time, log_id, log_index })
        .expect("canonical entry serializes");
    key.verify_signature(Signature::Raw(set), &canonical)
        .map_err(|_| "the transparency log's signed entry timestamp does not verify".to_owned())
}

/// A legacy signature as a Sigstore bundle (v0.1: a message signature over the payload,
/// the certificate, and the Rekor entry with its signed entry timestamp), so keyless legacy
/// signatures go through the same sigstore verifier as bundles do.
pub fn legacy_as_bundle(
    payload: &[u8],
    signature_b64: &str,
    certificate_pem: &str,
    rekor: &RekorBundle,
) -> Result<sigstore::bundle::Bundle, String> {
    let cert = pem_to_der(certificate_pem).ok_or("the certificate annotation is not a PEM certificate")?;
    let log_id = hex::decode(&rekor.payload.log_id).map_err(|_| "the Rekor bundle's logID is not hex")?;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(payload);
    let doc = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": {
            "x509CertificateChain": { "certificates": [{ "rawBytes": B64.encode(cert) }] },
            "tlogEntries": [{
                "logIndex": rekor.payload.log_index.to_string(),
                "logId": { "keyId": B64.encode(log_id) },
                "kindVersion": { "kind": "hashedrekord", "version": "0.0.1" },
                "integratedTime": rekor.payload.integrated_time.to_string(),
                "inclusionPromise": { "signedEntryTimestamp": rekor.signed_entry_timestamp },
                "canonicalizedBody": rekor.payload.body,
            }],
        },
        "messageSignature": {
            "messageDigest": { "algorithm": "SHA2_256", "digest": B64.encode(digest) },
            "signature": signature_b64,
        },
    });
    serde_json::from_value(doc).map_err(|e| format!("cannot read the legacy signature as a bundle: {e}"))
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    B64.decode(body.trim()).ok().filter(|d| !d.is_empty())
}

/// DSSE's pre-authentication encoding: what a DSSE signature signs.
pub fn dsse_pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!("DSSEv1 {} {payload_type} {} ", payload_type.len(), payload.len()).into_bytes();
    out.extend_from_slice(payload);
    out
}

// ---- keys ------------------------------------------------------------------------------

/// The environment variables a key's password is read from, in order.
pub const PASSWORD_VARS: [&str; 2] = ["SKILLDEX_KEY_PASSWORD", "COSIGN_PASSWORD"];

pub fn key_password() -> Vec<u8> {
    PASSWORD_VARS.iter().find_map(|v| std::env::var(v).ok()).unwrap_or_default().into_bytes()
}

/// A new ECDSA P-256 key pair: the private key as cosign's encrypted PEM, the public key as PEM.
pub fn generate_key(password: &[u8]) -> Result<(String, String), String> {
    let signer = SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer().map_err(|e| e.to_string())?;
    let pair = signer.to_sigstore_keypair().map_err(|e| e.to_string())?;
    let private = pair.private_key_to_encrypted_pem(password).map_err(|e| e.to_string())?;
    let public = pair.public_key_to_pem().map_err(|e| e.to_string())?;
    Ok((private.to_string(), public))
}

/// Reads a private key: cosign's encrypted PEM (with `password`) or plain PKCS#8 PEM.
pub fn load_signer(path: &Path, password: &[u8]) -> Result<SigStoreSigner, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let encrypted = String::from_utf8_lossy(&pem).contains("ENCRYPTED");
    let pair = if encrypted {
        SigStoreKeyPair::from_encrypted_pem(&pem, password)
            .map_err(|_| format!("cannot decrypt {} (set SKILLDEX_KEY_PASSWORD or COSIGN_PASSWORD)", path.display()))?
    } else {
        SigStoreKeyPair::from_pem(&pem).map_err(|e| format!("{} is not a private key: {e}", path.display()))?
    };
    [
        SigningScheme::ECDSA_P256_SHA256_ASN1,
        SigningScheme::ECDSA_P384_SHA384_ASN1,
        SigningScheme::ECDSA_P521_SHA512_ASN1,
        SigningScheme::ED25519,
    ]
    .iter()
    .find_map(|s| pair.to_sigstore_signer(s).ok())
    .ok_or_else(|| format!("{}: only ECDSA and Ed25519 keys can sign", path.display()))
}

/// Signs `payload`; the signature base64-encoded, as the signature annotation holds it.
pub fn sign(signer: &SigStoreSigner, payload: &[u8]) -> Result<String, String> {
    signer.sign(payload).map(|s| B64.encode(s)).map_err(|e| format!("signing failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_signatures_verify_only_under_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate_key(b"pw").unwrap();
        assert!(private.contains("ENCRYPTED SIGSTORE PRIVATE KEY"));
        std::fs::write(dir.path().join("k.key"), &private).unwrap();
        assert!(load_signer(&dir.path().join("k.key"), b"wrong").unwrap_err().contains("cannot decrypt"));
        let signer = load_signer(&dir.path().join("k.key"), b"pw").unwrap();

        let payload = SimpleSigning::new("r.test/acme/x", "sha256:aa", BTreeMap::new()).to_bytes();
        let sig = sign(&signer, &payload).unwrap();
        let key = CosignVerificationKey::try_from_pem(public.as_bytes()).unwrap();
        assert!(key.verify_signature(Signature::Base64Encoded(sig.as_bytes()), &payload).is_ok());
        let mut tampered = payload.clone();
        tampered[10] ^= 1;
        assert!(key.verify_signature(Signature::Base64Encoded(sig.as_bytes()), &tampered).is_err());
        let (_, other) = generate_key(b"").unwrap();
        let other = CosignVerificationKey::try_from_pem(other.as_bytes()).unwrap();
        assert!(other.verify_signature(Signature::Base64Encoded(sig.as_bytes()), &payload).is_err());
    }

    #[test]
    fn payloads_have_cosigns_shape() {
        let p = SimpleSigning::new("r.test/acme/x", "sha256:aa", [("ci".to_owned(), "yes".to_owned())].into());
        let v: serde_json::Value = serde_json::from_slice(&p.to_bytes()).unwrap();
        assert_eq!(v["critical"]["type"], SIGNATURE_TYPE);
        assert_eq!(v["critical"]["image"]["docker-manifest-digest"], "sha256:aa");
        assert_eq!(v["critical"]["identity"]["docker-reference"], "r.test/acme/x");
        assert_eq!(v["optional"]["ci"], "yes");
        assert_eq!(signature_tag("sha256:ab"), "sha256-ab.sig");
        assert_eq!(dsse_pae("t", b"xy"), b"DSSEv1 1 t 2 xy");
    }
}
