//! Trust policies: which signatures a version needs before skilldex publishes or serves it.
//!
//! One YAML file per policy (`policies/README.md` documents the format, `policy.schema.json`
//! is its JSON Schema). A policy applies to the namespaces its globs match; every applicable
//! policy must pass. Inside a policy the first rule whose skill glob matches decides, and any
//! one of its authorities (a public key, or a keyless Fulcio identity) may vouch for a
//! signature. Loading is all-or-nothing: a broken file never replaces a working set.

pub mod cosign;
pub mod verify;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sigstore::crypto::CosignVerificationKey;
use sigstore::trust::TrustRoot as _;
use sigstore::trust::sigstore::SigstoreTrustRoot;

use crate::oci::layout::sha256_digest;

pub use verify::{Candidate, SignatureStatus, Verdict};

pub const API_VERSION: &str = "skilldex.dev/v1";
pub const KIND: &str = "TrustPolicy";

#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PolicyError {
    pub path: String,
    pub message: String,
}

fn err(path: &Path, message: impl Into<String>) -> PolicyError {
    PolicyError { path: path.display().to_string(), message: message.into() }
}

/// What a policy does with a version that does not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse it.
    Enforce,
    /// Accept it, record the verdict and log a warning.
    Warn,
    /// Accept it and record the verdict.
    Audit,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Warn => "warn",
            Mode::Audit => "audit",
        }
    }
}

// ---- the file format -------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyDoc {
    api_version: String,
    kind: String,
    name: String,
    namespaces: Vec<String>,
    mode: Mode,
    rules: Vec<RuleDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RuleDoc {
    name: String,
    skills: Vec<String>,
    #[serde(default = "one")]
    min_signatures: u32,
    authorities: Vec<AuthorityDoc>,
    #[serde(default)]
    required_annotations: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AuthorityDoc {
    name: String,
    key: Option<KeyDoc>,
    keyless: Option<KeylessDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyDoc {
    public_key_pem: Option<String>,
    public_key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeylessDoc {
    trusted_root_file: PathBuf,
    issuer: String,
    subject: Option<String>,
    subject_reg_exp: Option<String>,
}

// ---- the loaded form -------------------------------------------------------------------

/// One loaded policy file.
#[derive(Debug)]
pub struct Policy {
    pub name: String,
    pub file: PathBuf,
    pub namespaces: Vec<String>,
    pub mode: Mode,
    pub rules: Vec<Rule>,
    /// `sha256:` of the file and every key it names.
    pub hash: String,
    /// `sha256:` of the trusted roots its keyless authorities pin, when it has any.
    pub trust_root_hash: Option<String>,
}

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    pub skills: Vec<String>,
    pub min_signatures: usize,
    pub authorities: Vec<Authority>,
    pub required_annotations: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct Authority {
    pub name: String,
    pub kind: AuthorityKind,
}

pub enum AuthorityKind {
    Key(Box<CosignVerificationKey>),
    Keyless(Arc<Keyless>),
}

impl std::fmt::Debug for AuthorityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthorityKind::Key(_) => f.write_str("Key"),
            AuthorityKind::Keyless(k) => write!(f, "Keyless({} {:?})", k.issuer, k.subject),
        }
    }
}

/// A Fulcio identity and the pinned trust root that certifies it.
pub struct Keyless {
    pub issuer: String,
    pub subject: SubjectMatch,
    pub root: Arc<LoadedRoot>,
}

#[derive(Debug, Clone)]
pub enum SubjectMatch {
    Exact(String),
    Pattern(regex::Regex),
}

impl SubjectMatch {
    pub fn matches(&self, subject: &str) -> bool {
        match self {
            SubjectMatch::Exact(s) => s == subject,
            SubjectMatch::Pattern(r) => r.is_match(subject),
        }
    }
}

impl std::fmt::Display for SubjectMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubjectMatch::Exact(s) => write!(f, "`{s}`"),
            SubjectMatch::Pattern(r) => write!(f, "matching `{}`", r.as_str()),
        }
    }
}

/// A `trusted_root.json`, parsed once: the sigstore verifier built from it (Fulcio CAs, CT
/// log keys) and its Rekor keys by log ID (hex), which check signed entry timestamps.
pub struct LoadedRoot {
    pub hash: String,
    pub verifier: sigstore::bundle::verify::Verifier,
    pub rekor_keys: BTreeMap<String, CosignVerificationKey>,
}

/// Every loaded policy, in file-name order.
#[derive(Debug, Default)]
pub struct PolicySet {
    pub dir: Option<PathBuf>,
    pub policies: Vec<Policy>,
}

impl PolicySet {
    /// Loads every `*.yaml`/`*.yml` file in `dir`. Any error fails the whole load.
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let entries = std::fs::read_dir(dir).map_err(|e| err(dir, format!("cannot read the directory: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| err(dir, e.to_string()))?.path();
            let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
            if yaml && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        let mut roots = BTreeMap::new();
        let mut policies: Vec<Policy> = Vec::new();
        for file in files {
            let policy = load_file(&file, &mut roots)?;
            if let Some(other) = policies.iter().find(|p| p.name == policy.name) {
                return Err(err(
                    &file,
                    format!("policy `{}` is also defined in {}", policy.name, other.file.display()),
                ));
            }
            policies.push(policy);
        }
        Ok(PolicySet { dir: Some(dir.to_owned()), policies })
    }

    /// Loads a single policy file (used by `skilldex verify --policy`).
    pub fn load_file(file: &Path) -> Result<Self, PolicyError> {
        let policy = load_file(file, &mut BTreeMap::new())?;
        Ok(PolicySet { dir: None, policies: vec![policy] })
    }

    /// Parses one policy document as if it were the file `file`, reading the files it names
    /// with `read` (the parser fuzzers' entry).
    #[cfg(feature = "test-util")]
    #[doc(hidden)]
    pub fn from_yaml(
        file: &Path,
        bytes: &[u8],
        read: &dyn Fn(&Path) -> std::io::Result<Vec<u8>>,
    ) -> Result<Self, PolicyError> {
        let policy = parse_file(file, bytes.to_vec(), &mut BTreeMap::new(), read)?;
        Ok(PolicySet { dir: None, policies: vec![policy] })
    }

    /// The policies that cover `namespace`.
    pub fn applicable<'a>(&'a self, namespace: &str) -> Vec<&'a Policy> {
        self.policies.iter().filter(|p| p.namespaces.iter().any(|g| glob_match(g, namespace))).collect()
    }

    /// The hashes a verdict for `namespace` is made under: the policies' and the trust roots'.
    /// `None` when no policy covers the namespace.
    pub fn hashes_for(&self, namespace: &str) -> Option<(String, Option<String>)> {
        combined_hashes(&self.applicable(namespace))
    }
}

pub(crate) fn combined_hashes(policies: &[&Policy]) -> Option<(String, Option<String>)> {
    if policies.is_empty() {
        return None;
    }
    let policy = policies.iter().map(|p| format!("{}={}", p.name, p.hash)).collect::<Vec<_>>().join("\n");
    let roots: BTreeSet<&str> = policies.iter().filter_map(|p| p.trust_root_hash.as_deref()).collect();
    let roots = (!roots.is_empty()).then(|| sha256_digest(roots.into_iter().collect::<Vec<_>>().join("\n").as_bytes()));
    Some((sha256_digest(policy.as_bytes()), roots))
}

fn load_file(file: &Path, roots: &mut BTreeMap<PathBuf, Arc<LoadedRoot>>) -> Result<Policy, PolicyError> {
    let bytes = std::fs::read(file).map_err(|e| err(file, format!("cannot read: {e}")))?;
    parse_file(file, bytes, roots, &|path: &Path| std::fs::read(path))
}

/// Reads a file a policy names (a key, a trust root).
type ReadFile<'a> = &'a dyn Fn(&Path) -> std::io::Result<Vec<u8>>;

/// Parses a policy document as if read from `file`; the keys and trust roots it names are
/// read with `read`, relative to that file's directory.
fn parse_file(
    file: &Path,
    bytes: Vec<u8>,
    roots: &mut BTreeMap<PathBuf, Arc<LoadedRoot>>,
    read: ReadFile<'_>,
) -> Result<Policy, PolicyError> {
    let doc: PolicyDoc = serde_yaml_ng::from_slice(&bytes).map_err(|e| err(file, e.to_string()))?;
    if doc.api_version != API_VERSION {
        return Err(err(file, format!("apiVersion must be `{API_VERSION}`, not `{}`", doc.api_version)));
    }
    if doc.kind != KIND {
        return Err(err(file, format!("kind must be `{KIND}`, not `{}`", doc.kind)));
    }
    check_name(file, "the policy", &doc.name)?;
    if doc.namespaces.is_empty() {
        return Err(err(file, "`namespaces` must name at least one namespace glob"));
    }
    for g in &doc.namespaces {
        check_glob(file, g)?;
    }
    if doc.rules.is_empty() {
        return Err(err(file, "`rules` must have at least one rule"));
    }
    let base = file.parent().unwrap_or(Path::new("."));
    let mut hashed = bytes.clone();
    let mut root_hashes = BTreeSet::new();
    let mut rules = Vec::new();
    for (i, r) in doc.rules.into_iter().enumerate() {
        let at = |m: String| err(file, format!("rules[{i}] ({}): {m}", r.name));
        check_name(file, &format!("rules[{i}]"), &r.name)?;
        if r.skills.is_empty() {
            return Err(at("`skills` must name at least one skill glob".into()));
        }
        for g in &r.skills {
            check_glob(file, g)?;
        }
        if r.authorities.is_empty() {
            return Err(at("`authorities` must have at least one authority".into()));
        }
        if r.min_signatures == 0 {
            return Err(at("`minSignatures` must be at least 1".into()));
        }
        let mut authorities = Vec::new();
        for a in r.authorities {
            check_name(file, &format!("rules[{i}] authority"), &a.name)?;
            let at = |m: String| at(format!("authority `{}`: {m}", a.name));
            let kind = match (a.key, a.keyless) {
                (Some(k), None) => {
                    let pem = match (k.public_key_pem, k.public_key_file) {
                        (Some(pem), None) => pem.into_bytes(),
                        (None, Some(f)) => {
                            let path = base.join(f);
                            let pem = read(&path).map_err(|e| at(format!("cannot read {}: {e}", path.display())))?;
                            hashed.extend_from_slice(&pem);
                            pem
                        }
                        _ => return Err(at("`key` needs exactly one of `publicKeyPem` and `publicKeyFile`".into())),
                    };
                    let key = CosignVerificationKey::try_from_pem(&pem)
                        .map_err(|e| at(format!("not a usable public key: {e}")))?;
                    AuthorityKind::Key(Box::new(key))
                }
                (None, Some(k)) => {
                    let subject = match (k.subject, k.subject_reg_exp) {
                        (Some(s), None) if !s.is_empty() => SubjectMatch::Exact(s),
                        (None, Some(p)) if !p.is_empty() => {
                            // Anchored, so `subjectRegExp: a@b` cannot match `a@b.evil`.
                            let anchored = format!("^(?:{p})$");
                            SubjectMatch::Pattern(
                                regex::Regex::new(&anchored).map_err(|e| at(format!("bad `subjectRegExp`: {e}")))?,
                            )
                        }
                        _ => {
                            return Err(at(
                                "keyless authorities must pin the subject: exactly one of `subject` and `subjectRegExp`"
                                    .into(),
                            ));
                        }
                    };
                    if k.issuer.is_empty() {
                        return Err(at("keyless authorities must pin the `issuer`".into()));
                    }
                    let path = base.join(&k.trusted_root_file);
                    let root = match roots.get(&path) {
                        Some(r) => r.clone(),
                        None => {
                            let r = Arc::new(load_root(&path, read).map_err(at)?);
                            roots.insert(path.clone(), r.clone());
                            r
                        }
                    };
                    root_hashes.insert(root.hash.clone());
                    AuthorityKind::Keyless(Arc::new(Keyless { issuer: k.issuer, subject, root }))
                }
                _ => return Err(at("needs exactly one of `key` and `keyless`".into())),
            };
            authorities.push(Authority { name: a.name, kind });
        }
        rules.push(Rule {
            name: r.name,
            skills: r.skills,
            min_signatures: r.min_signatures as usize,
            authorities,
            required_annotations: r.required_annotations,
        });
    }
    let trust_root_hash = (!root_hashes.is_empty())
        .then(|| sha256_digest(root_hashes.into_iter().collect::<Vec<_>>().join("\n").as_bytes()));
    Ok(Policy {
        name: doc.name,
        file: file.to_owned(),
        namespaces: doc.namespaces,
        mode: doc.mode,
        rules,
        hash: sha256_digest(&hashed),
        trust_root_hash,
    })
}

fn load_root(path: &Path, read: ReadFile<'_>) -> Result<LoadedRoot, String> {
    let bytes = read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let bad = |e: sigstore::errors::SigstoreError| format!("{} is not a usable trusted root: {e}", path.display());
    let root = SigstoreTrustRoot::from_trusted_root_json_unchecked(&bytes).map_err(bad)?;
    let mut rekor_keys = BTreeMap::new();
    for (id, der) in root.rekor_keys().map_err(bad)? {
        let key = CosignVerificationKey::try_from_der(der).map_err(bad)?;
        rekor_keys.insert(id, key);
    }
    if rekor_keys.is_empty() {
        return Err(format!("{} has no transparency log key", path.display()));
    }
    let verifier = sigstore::bundle::verify::Verifier::new(Default::default(), root).map_err(bad)?;
    Ok(LoadedRoot { hash: sha256_digest(&bytes), verifier, rekor_keys })
}

fn check_name(file: &Path, what: &str, name: &str) -> Result<(), PolicyError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(err(file, format!("{what} name `{name}` must be 1-128 letters, digits, `-`, `_` or `.`")))
    }
}

fn check_glob(file: &Path, glob: &str) -> Result<(), PolicyError> {
    let ok = !glob.is_empty()
        && glob.len() <= 256
        && glob.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '*' | '?'));
    if ok {
        Ok(())
    } else {
        Err(err(
            file,
            format!("`{glob}` is not a namespace or skill glob (lower-case letters, digits, `.`, `-`, `*`, `?`)"),
        ))
    }
}

/// Shell-style matching: `*` is any run of characters (dots included), `?` any one.
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some((gi, ni));
            gi += 1;
        } else if let Some((sg, sn)) = star {
            gi = sg + 1;
            ni = sn + 1;
            star = Some((sg, sn + 1));
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_match("*", "anything.at.all"));
        assert!(glob_match("io.github.acme*", "io.github.acme-labs"));
        assert!(glob_match("acme", "acme"));
        assert!(!glob_match("acme", "acme2"));
        assert!(glob_match("a?me", "acme"));
        assert!(glob_match("*-review*", "code-reviewer"));
        assert!(!glob_match("io.github.*", "io.gitlab.acme"));
    }

    fn write(dir: &Path, name: &str, body: &str) {
        std::fs::write(dir.join(name), body).unwrap();
    }

    fn key_policy(extra: &str) -> String {
        format!(
            "apiVersion: skilldex.dev/v1\nkind: TrustPolicy\nname: acme\nnamespaces: [acme]\nmode: enforce\nrules:\n  - name: all\n    skills: ['*']\n    authorities:\n      - name: k\n        key: {{ publicKeyFile: k.pub }}\n{extra}"
        )
    }

    #[test]
    fn a_policy_loads_and_broken_ones_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let signer = sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer().unwrap();
        let pem = signer.to_sigstore_keypair().unwrap().public_key_to_pem().unwrap();
        write(dir.path(), "k.pub", &pem);
        write(dir.path(), "acme.yaml", &key_policy(""));
        let set = PolicySet::load_dir(dir.path()).unwrap();
        assert_eq!(set.policies.len(), 1);
        assert_eq!(set.applicable("acme").len(), 1);
        assert!(set.applicable("other").is_empty());
        let (hash, roots) = set.hashes_for("acme").unwrap();
        assert!(hash.starts_with("sha256:") && roots.is_none());

        // The key file is part of the policy's hash: rotating it changes the hash.
        let other = sigstore::crypto::SigningScheme::ECDSA_P256_SHA256_ASN1.create_signer().unwrap();
        write(dir.path(), "k.pub", &other.to_sigstore_keypair().unwrap().public_key_to_pem().unwrap());
        assert_ne!(PolicySet::load_dir(dir.path()).unwrap().hashes_for("acme").unwrap().0, hash);

        let cases = [
            (key_policy("    surprise: 1\n"), "unknown field `surprise`"),
            (key_policy("").replace("mode: enforce", "mode: strict"), "unknown variant `strict`"),
            (key_policy("").replace("skilldex.dev/v1", "v2"), "apiVersion must be"),
            (key_policy("").replace("publicKeyFile: k.pub", "publicKeyFile: missing.pub"), "cannot read"),
            (key_policy("").replace("publicKeyFile: k.pub", "publicKeyPem: nope"), "not a usable public key"),
            (key_policy("").replace("namespaces: [acme]", "namespaces: [ACME]"), "is not a namespace or skill glob"),
            (
                key_policy("")
                    .replace("key: { publicKeyFile: k.pub }", "keyless: { trustedRootFile: r.json, issuer: x }"),
                "must pin the subject",
            ),
            (key_policy("").replace("    authorities:", "    minSignatures: 0\n    authorities:"), "at least 1"),
        ];
        for (body, want) in cases {
            write(dir.path(), "acme.yaml", &body);
            let e = PolicySet::load_dir(dir.path()).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("acme.yaml"), "{want}: {e}");
        }
        write(dir.path(), "acme.yaml", &key_policy(""));
        write(dir.path(), "again.yml", &key_policy(""));
        assert!(PolicySet::load_dir(dir.path()).unwrap_err().to_string().contains("also defined"));
    }
}
