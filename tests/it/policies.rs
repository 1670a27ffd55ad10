//! `policies/`: the documented example policies validate against the published JSON Schema and
//! load with skilldex's own loader, and documents the schema refuses are refused by the loader
//! too, so the schema an editor checks against cannot drift from what `serve --policies` does.

use std::path::{Path, PathBuf};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use skilldex::domain::TokenScope;
use skilldex::policy::{Mode, PolicySet};

use crate::common::{TestApp, TestDb, on_both_backends};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

fn validator() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("trust-policy.schema.json")).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("the policy schema compiles")
}

fn schema_errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let doc: Value = serde_yaml_ng::from_str(yaml).expect("test documents are YAML");
    validator.iter_errors(&doc).map(|e| format!("{e} at {}", e.instance_path())).collect()
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_validates_against_the_schema_and_loads() {
    let validator = validator();
    let files = examples();
    assert!(files.len() >= 4, "the documented examples are there: {files:?}");
    for file in &files {
        let errors = schema_errors(&validator, &std::fs::read_to_string(file).unwrap());
        assert!(errors.is_empty(), "{} against the schema: {errors:?}", file.display());
        let set = PolicySet::load_file(file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.policies.len(), 1);
    }

    // The whole directory loads as one set, as `serve --policies policies/examples` would.
    let set = PolicySet::load_dir(&dir().join("examples")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.policies.len(), files.len());
    let acme: Vec<&str> = set.applicable("acme").iter().map(|p| p.name.as_str()).collect();
    assert_eq!(acme, ["acme-release", "acme-security", "audit-all"]);
    let community = set.applicable("community-tools");
    assert_eq!(
        community.iter().map(|p| (p.name.as_str(), p.mode)).collect::<Vec<_>>(),
        [("community", Mode::Warn), ("audit-all", Mode::Audit)]
    );
    // The keyless examples pin the public Sigstore root, which is hashed into their verdicts.
    assert!(set.policies.iter().find(|p| p.name == "acme-release").unwrap().trust_root_hash.is_some());
    assert!(set.policies.iter().find(|p| p.name == "audit-all").unwrap().trust_root_hash.is_none());
}

/// Each mutation of a valid policy is wrong in one way; the schema and the loader must both
/// refuse it, and the loader must say what is wrong.
#[test]
fn schema_and_loader_refuse_the_same_documents() {
    let validator = validator();
    let good = std::fs::read_to_string(dir().join("examples/acme-release.yaml")).unwrap();
    assert!(schema_errors(&validator, &good).is_empty());
    let key = "key: { publicKeyFile: keys/acme-release.pub }";
    let keyless_subject =
        r#"subjectRegExp: "https://github\\.com/acme/skills/\\.github/workflows/release\\.yml@refs/tags/v.*""#;
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown top-level field", good.replace("mode: enforce", "mode: enforce\nowner: acme"), "owner"),
        ("unknown rule field", good.replace("minSignatures: 1", "minSignatures: 1\n    maxSignatures: 3"), "maxSignatures"),
        ("misspelt mode", good.replace("mode: enforce", "mode: Enforce"), "Enforce"),
        ("wrong apiVersion", good.replace("skilldex.dev/v1", "skilldex.dev/v2"), "apiVersion"),
        ("wrong kind", good.replace("kind: TrustPolicy", "kind: Policy"), "kind"),
        ("no namespaces", good.replace(r#"["acme", "io.github.acme*"]"#, "[]"), "namespaces"),
        ("upper-case namespace glob", good.replace(r#""acme","#, r#""Acme","#), "Acme"),
        ("bad policy name", good.replace("name: acme-release", "name: acme release"), "acme release"),
        ("no rules", good.split("rules:").next().unwrap().to_owned() + "rules: []\n", "rules"),
        ("minSignatures 0", good.replace("minSignatures: 1", "minSignatures: 0"), "minSignatures"),
        ("negative minSignatures", good.replace("minSignatures: 1", "minSignatures: -1"), "minSignatures"),
        ("no skills", good.replace(r#"skills: ["*"]"#, "skills: []"), "skills"),
        ("both key and keyless", good.replace(key, &format!("{key}\n        keyless: {{ trustedRootFile: trust/sigstore-public-good.json, issuer: x, subject: y }}")), "exactly one of `key` and `keyless`"),
        ("neither key nor keyless", good.replace(&format!("\n        {key}"), ""), "exactly one of `key` and `keyless`"),
        ("key with pem and file", good.replace(key, "key: { publicKeyFile: keys/acme-release.pub, publicKeyPem: \"-----BEGIN PUBLIC KEY-----\" }"), "publicKeyPem"),
        ("keyless without a subject", good.replace(keyless_subject, ""), "subject"),
        ("keyless with subject and subjectRegExp", good.replace(keyless_subject, &format!("{keyless_subject}\n          subject: a@b")), "subject"),
        ("keyless with an empty subjectRegExp", good.replace(keyless_subject, r#"subjectRegExp: """#), "subject"),
        ("keyless without an issuer", good.replace("issuer: https://token.actions.githubusercontent.com", ""), "issuer"),
        ("keyless with an empty issuer", good.replace("issuer: https://token.actions.githubusercontent.com", r#"issuer: """#), "issuer"),
        ("bad authority name", good.replace("name: release-key", "name: release key"), "release key"),
        ("annotation that is not a string", good.replace("minSignatures: 1", "minSignatures: 1\n    requiredAnnotations: { reviewed: [a] }"), "requiredAnnotations"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    let examples = dir().join("examples");
    for sub in ["keys", "trust"] {
        std::fs::create_dir(tmp.path().join(sub)).unwrap();
        for f in std::fs::read_dir(examples.join(sub)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), tmp.path().join(sub).join(f.file_name())).unwrap();
        }
    }
    for (what, doc, mention) in cases {
        assert_ne!(doc, good, "{what}: the mutation applies");
        assert!(!schema_errors(&validator, &doc).is_empty(), "{what}: the schema refuses it");
        let file = tmp.path().join("policy.yaml");
        std::fs::write(&file, &doc).unwrap();
        let e = PolicySet::load_file(&file).err().unwrap_or_else(|| panic!("{what}: the loader refuses it"));
        assert!(e.to_string().contains(mention), "{what}: `{e}` mentions `{mention}`");
    }
}

on_both_backends!(policy_endpoints_are_for_site_administrators);

/// Policies name keys, identities and file paths: only site administrators see them or
/// re-run verdicts; everyone else gets the usual 401/403 and learns nothing.
async fn policy_endpoints_are_for_site_administrators(db: TestDb) {
    let app = TestApp::new(db).await;
    app.index.set_policies(PolicySet::load_dir(&dir().join("examples")).unwrap());
    let ann = app.user("ann", TokenScope::Admin).await;
    let reevaluate = json!({ "namespace": "acme" });
    for (token, want) in [(None, StatusCode::UNAUTHORIZED), (Some(ann.as_str()), StatusCode::FORBIDDEN)] {
        let r = app.get("/api/v1/policies", token).await;
        assert_eq!(r.status, want, "{}", r.text);
        assert!(!r.text.contains("acme-release"), "{}", r.text);
        let r = app.call(Method::POST, "/api/v1/policies/reevaluate", token, Some(reevaluate.clone())).await;
        assert_eq!(r.status, want, "{}", r.text);
    }
    let r = app.get("/api/v1/policies", Some(&app.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let names: Vec<&str> = r.body["data"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["acme-release", "acme-security", "community", "audit-all"]);
    let release = &r.body["data"][0]["rules"][0]["authorities"];
    assert_eq!(release[0]["kind"], "key");
    assert_eq!(release[1]["kind"], "keyless");
    assert_eq!(release[1]["issuer"], "https://token.actions.githubusercontent.com");
    let r = app.call(Method::POST, "/api/v1/policies/reevaluate", Some(&app.admin), Some(reevaluate)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["checked"], 0, "no versions yet: {}", r.text);
}
