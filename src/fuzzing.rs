//! Entry points for the parser fuzzers (`fuzz/`) and for their regression test: each takes
//! arbitrary bytes and reads them as the server reads untrusted input. Whatever the bytes,
//! each must return: no panic, no hang, no allocation past the limits.

use std::path::Path;

use crate::bundle::{Bundle, Limits};

/// A skill archive (tar.gz), as uploads and registry layers are read.
pub fn bundle_archive(data: &[u8]) {
    let _ = Bundle::from_archive(data, None, &Limits::default());
    let _ = Bundle::from_archive(data, Some("package/"), &Limits::default());
}

/// An npm tarball (`package/…`), as `npm publish` sends it.
pub fn npm_tarball(data: &[u8]) {
    let _ = Bundle::from_npm_tarball(data, &Limits::default());
}

/// A SKILL.md: its frontmatter and body.
pub fn skill_md(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::bundle::SkillMd::parse(text, &Limits::default());
    }
}

/// An OCI manifest or image index (and the descriptors it names), as a registry or a
/// `/v2/` push hands it over.
pub fn oci_manifest(data: &[u8]) {
    use crate::oci::layout::{self, TopLevel};
    match layout::parse_top(data) {
        Ok(TopLevel::Index(index)) => {
            if let Ok(d) = layout::pick_from_index(&index) {
                let _ = crate::oci::store::check_digest(&d.digest);
            }
        }
        Ok(TopLevel::Manifest(manifest)) => {
            let _ = layout::annotated_requires(&manifest);
            if let Ok((_, layer)) = layout::classify(&manifest) {
                let _ = crate::oci::store::check_digest(&layer.digest);
            }
        }
        Err(_) => {}
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = layout::toolhive_requires(text);
        let _ = crate::oci::parse_reference(text);
    }
}

/// A trust-policy file, as if it sat with the example policies: the keys and trust root
/// they name are served from memory, and no other file is read.
pub fn trust_policy(data: &[u8]) {
    let _ = crate::policy::PolicySet::from_yaml(Path::new("/policies/fuzz.yaml"), data, &example_file);
}

fn example_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let bytes: &[u8] = match path.to_str() {
        Some("/policies/keys/acme-release.pub") => include_bytes!("../policies/examples/keys/acme-release.pub"),
        Some("/policies/keys/acme-security.pub") => include_bytes!("../policies/examples/keys/acme-security.pub"),
        Some("/policies/trust/sigstore-public-good.json") => {
            include_bytes!("../policies/examples/trust/sigstore-public-good.json")
        }
        _ => return Err(std::io::ErrorKind::NotFound.into()),
    };
    Ok(bytes.to_vec())
}

/// The body `npm publish` PUTs: the package document, its attachment and the tarball in it.
pub fn npm_publish(data: &[u8]) {
    crate::api::npm::parse_publish_body(data);
}

/// A parser's entry: it reads any bytes and returns.
pub type Entry = fn(&[u8]);

/// Every entry, by the name of its fuzz target.
pub const TARGETS: &[(&str, Entry)] = &[
    ("bundle_archive", bundle_archive),
    ("npm_tarball", npm_tarball),
    ("skill_md", skill_md),
    ("oci_manifest", oci_manifest),
    ("trust_policy", trust_policy),
    ("npm_publish", npm_publish),
];

/// The seed corpus: for each target, inputs that reach deep into its parser — the hostile
/// archives the bundle rules refuse, a good bundle and npm package, SKILL.md edge cases,
/// manifests of every layout, policies and publish documents.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use base64::Engine as _;

    use crate::bundle::testing::{entry, gz, hostile_corpus};
    let mut out = Vec::new();
    let skill_md = b"---\nname: demo\ndescription: d\nversion: 1.0.0\n---\n# Demo\n".to_vec();
    let good = gz(&[entry(b"SKILL.md", b'0', &skill_md, b""), entry(b"docs/a.md", b'0', b"a", b"")]);
    out.push(("bundle_archive", "good".to_owned(), good.clone()));
    for (i, (what, archive, _)) in hostile_corpus().into_iter().enumerate() {
        // The gzip bomb inflates to 11 MiB at every run of it: the regression test has it in
        // the e2e corpus already, and the fuzzer's inputs stay quick.
        if what != "gzip bomb" {
            out.push(("bundle_archive", format!("hostile-{i}-{}", what.replace(' ', "-")), archive));
        }
    }
    let package_json = br#"{"name":"@acme/demo","version":"1.0.0","keywords":["lint"]}"#;
    let npm = gz(&[
        entry(b"package/package.json", b'0', package_json, b""),
        entry(b"package/SKILL.md", b'0', &skill_md, b""),
    ]);
    out.push(("npm_tarball", "good".to_owned(), npm.clone()));
    out.push(("npm_tarball", "escaping".to_owned(), gz(&[entry(b"package/../x", b'0', b"x", b"")])));
    let frontmatters: [&[u8]; 6] = [
        &skill_md,
        b"---\nname: demo\ndescription: >\n  folded\n  text\nallowed-tools: Read Grep\nmetadata:\n  a: [1, 2]\n---\nbody",
        b"---\nname: demo\n---\n",
        b"---\r\nname: demo\r\ndescription: crlf\r\n---\r\n",
        b"---\nname: &a demo\ndescription: *a\n---\n",
        b"no frontmatter at all",
    ];
    for (i, text) in frontmatters.iter().enumerate() {
        out.push(("skill_md", format!("frontmatter-{i}"), text.to_vec()));
    }
    let d = format!("sha256:{}", "a".repeat(64));
    let manifests = [
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.stacklok.toolhive.skill.v1","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{d}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{d}","size":10}}],"annotations":{{"dev.toolhive.skills.requires":"[\"ghcr.io/a/b:1\"]"}}}}"#
        ),
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":5,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        ),
        format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{d}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":1}}}}"#
        ),
        "ghcr.io/acme/skills/demo:1.0.0".to_owned(),
    ];
    for (i, m) in manifests.into_iter().enumerate() {
        out.push(("oci_manifest", format!("manifest-{i}"), m.into_bytes()));
    }
    let policies = [
        include_str!("../policies/examples/acme-release.yaml"),
        include_str!("../policies/examples/acme-security-two-keys.yaml"),
        include_str!("../policies/examples/community-warn.yaml"),
        include_str!("../policies/examples/everything-audit.yaml"),
    ];
    for (i, p) in policies.iter().enumerate() {
        out.push(("trust_policy", format!("policy-{i}"), p.as_bytes().to_vec()));
    }
    let tarball = base64::engine::general_purpose::STANDARD.encode(&npm);
    let body = format!(
        r#"{{"name":"@acme/demo","description":"d","dist-tags":{{"latest":"1.0.0","beta":"1.0.0"}},"access":"public","versions":{{"1.0.0":{{"name":"@acme/demo","version":"1.0.0","keywords":["lint"],"dist":{{"shasum":"x"}}}}}},"_attachments":{{"demo-1.0.0.tgz":{{"data":"{tarball}","length":{}}}}}}}"#,
        npm.len()
    );
    out.push(("npm_publish", "publish".to_owned(), body.into_bytes()));
    out.push((
        "npm_publish",
        "deprecate".to_owned(),
        br#"{"name":"@acme/demo","versions":{"1.0.0":{"deprecated":"old"}}}"#.to_vec(),
    ));
    out
}
