//! ToolHive's registry skills extension and its publish call against a running server, with
//! every response checked against ToolHive's own OpenAPI document (e2e/toolhive/), public
//! and private skills, configured registry views, and bad input.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::*;
use crate::registry::{peers_available, skopeo};

/// ToolHive's OpenAPI document, made strict: objects it describes may carry no property it
/// does not declare, so a misspelt field fails instead of slipping through.
struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/toolhive/skills-openapi.json");
        let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for schema in doc["components"]["schemas"].as_object_mut().unwrap().values_mut() {
            if schema.get("properties").is_some() {
                schema["additionalProperties"] = json!(false);
            }
        }
        Spec { doc }
    }

    /// Checks `body` against the schema the document gives for `template` and `status`. A
    /// status the document does not list must still be ToolHive's error shape.
    fn check(&self, method: &str, template: &str, status: u16, body: &Value) {
        let errors = self.errors(method, template, status, body);
        assert!(errors.is_empty(), "{method} {template} {status} against ToolHive's schema: {errors:?}\n{body}");
    }

    fn errors(&self, method: &str, template: &str, status: u16, body: &Value) -> Vec<String> {
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not in ToolHive's document");
        let declared = &op["responses"][status.to_string()]["content"]["application/json"]["schema"];
        let schema = if declared.is_object() {
            declared.clone()
        } else {
            assert!(status >= 400, "{method} {template}: {status} is not a documented success");
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        };
        if status >= 400 {
            assert!(body["error"].is_string() && body.as_object().unwrap().len() == 1, "{status}: {body}");
        }
        let mut root = self.doc.clone();
        root.as_object_mut().unwrap().insert("$ref".into(), json!("#/$defs/target"));
        root.as_object_mut().unwrap().insert("$defs".into(), json!({ "target": schema }));
        // OpenAPI 3.1 schemas are JSON Schema 2020-12; point `$ref`s at the components.
        let validator = jsonschema::draft202012::new(&root).unwrap();
        validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path())).collect()
    }
}

const LIST: &str = "/registry/{registryName}/v0.1/x/dev.toolhive/skills";
const LATEST: &str = "/registry/{registryName}/v0.1/x/dev.toolhive/skills/{namespace}/{name}";
const VERSIONS: &str = "/registry/{registryName}/v0.1/x/dev.toolhive/skills/{namespace}/{name}/versions";
const VERSION: &str = "/registry/{registryName}/v0.1/x/dev.toolhive/skills/{namespace}/{name}/versions/{version}";
const ENTRIES: &str = "/v1/entries";

#[test]
fn toolhive_clients_see_what_the_document_promises_and_nothing_private() {
    if !peers_available() {
        return;
    }
    let spec = Spec::load();
    // The check bites: a wrong type, a misspelt field and a bare string are all caught.
    for wrong in [json!({"name": "x", "allowedTools": "Read"}), json!({"name": "x", "allowed_tools": []}), json!("x")] {
        assert!(!spec.errors("get", LATEST, 200, &wrong).is_empty(), "{wrong}");
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let serve = Serve::start(root, &["--toolhive-registry", "acme=acme", "--toolhive-registry", "labs=lab*"]);
    let admin = std::fs::read_to_string(root.join("skilldex-data/admin-token")).unwrap().trim().to_owned();
    serve.ok(Some(&admin), &["team", "create", "acme"]);
    serve.ok(Some(&admin), &["team", "create", "labs"]);
    serve.ok(Some(&admin), &["user", "create", "eve", "--email", "eve@example.com"]);
    let eve = serve.json(Some(&admin), &["token", "create", "--name", "t", "--scope", "write", "--user", "eve"]);
    let eve = eve["token"].as_str().unwrap().to_owned();

    let publish = |ns: &str, name: &str, version: &str| {
        let skill = skill_dir(root, name, version, &[]);
        serve.ok(Some(&admin), &["publish", "--public", skill.to_str().unwrap(), "-n", ns]);
    };
    publish("acme", "alpha", "1.0.0");
    publish("acme", "alpha", "1.1.0");
    serve.ok(Some(&admin), &["skill", "create", "acme/secret", "--description", "hush", "--private"]);
    publish("acme", "secret", "1.0.0");
    publish("labs", "probe", "0.1.0");
    publish("acme", "old", "1.0.0");
    serve.ok(Some(&admin), &["skill", "deprecate", "acme/old", "--message", "use alpha"]);

    let get = |template: &str, path: &str, token: Option<&str>| -> (u16, Value) {
        let (status, body) = http_json(serve.addr, "GET", path, token, None);
        spec.check("get", template, status, &body);
        (status, body)
    };
    let names = |body: &Value| -> Vec<String> {
        body["skills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{}/{}", s["namespace"], s["name"]).replace('"', ""))
            .collect()
    };
    let base = "/registry/default/v0.1/x/dev.toolhive/skills";

    // Anonymous: public skills only, with counts to match; a member also sees the private one.
    let (s, anon) = get(LIST, base, None);
    assert_eq!(s, 200);
    assert_eq!(names(&anon), ["acme/alpha", "acme/old", "labs/probe"]);
    assert_eq!(anon["metadata"]["count"], 3);
    assert!(anon["metadata"].get("nextCursor").is_none(), "{anon}");
    let alpha = &anon["skills"][0];
    assert_eq!((alpha["version"].as_str(), alpha["status"].as_str()), (Some("1.1.0"), Some("active")));
    assert_eq!(alpha["allowedTools"], json!(["Read", "Grep"]));
    let package = &alpha["packages"][0];
    assert_eq!(package["registryType"], "oci");
    assert!(
        package["identifier"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/acme/alpha@{}", package["digest"].as_str().unwrap()))
    );
    assert_eq!(anon["skills"][1]["status"], "deprecated");
    let (_, as_admin) = get(LIST, base, Some(&admin));
    assert_eq!(names(&as_admin), ["acme/alpha", "acme/old", "labs/probe", "acme/secret"], "sorted by name");
    let (_, eve_list) = get(LIST, base, Some(&eve));
    assert_eq!(names(&eve_list), names(&anon), "an outsider sees what anyone sees");

    // Search and status filters, honoured; private skills never found by outsiders.
    let (_, found) = get(LIST, &format!("{base}?search=hush"), None);
    assert_eq!(names(&found), Vec::<String>::new());
    let (_, found) = get(LIST, &format!("{base}?search=secret"), Some(&admin));
    assert_eq!(names(&found), ["acme/secret"]);
    let (_, found) = get(LIST, &format!("{base}?status=deprecated"), None);
    assert_eq!(names(&found), ["acme/old"]);
    let (_, found) = get(LIST, &format!("{base}?status=active,archived"), None);
    assert_eq!(names(&found), ["acme/alpha", "labs/probe"]);

    // Paging with the opaque cursor walks the same list, one at a time.
    let mut walked = Vec::new();
    let mut path = format!("{base}?limit=1");
    loop {
        let (s, page) = get(LIST, &path, Some(&admin));
        assert_eq!((s, page["metadata"]["count"].as_u64()), (200, Some(1)), "{page}");
        walked.extend(names(&page));
        match page["metadata"]["nextCursor"].as_str() {
            Some(c) => path = format!("{base}?limit=1&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(walked, names(&as_admin));

    // Views: each registry name is its own set of namespaces; an unknown one is 404.
    let (_, acme) = get(LIST, "/registry/acme/v0.1/x/dev.toolhive/skills", Some(&admin));
    assert_eq!(names(&acme), ["acme/alpha", "acme/old", "acme/secret"]);
    let (_, labs) = get(LIST, "/registry/labs/v0.1/x/dev.toolhive/skills", Some(&admin));
    assert_eq!(names(&labs), ["labs/probe"]);
    let (s, body) = get(LIST, "/registry/nope/v0.1/x/dev.toolhive/skills", None);
    assert_eq!((s, &body["error"]), (404, &json!("registry not found")));
    let (s, outside) = get(LATEST, "/registry/labs/v0.1/x/dev.toolhive/skills/acme/alpha", Some(&admin));
    let (_, missing) = get(LATEST, "/registry/labs/v0.1/x/dev.toolhive/skills/labs/nothing", Some(&admin));
    assert_eq!(s, 404);
    assert_eq!(
        outside["error"].as_str().unwrap().replace("acme/alpha", "X"),
        missing["error"].as_str().unwrap().replace("labs/nothing", "X")
    );

    // One skill: latest, versions, one version.
    let (s, latest) = get(LATEST, &format!("{base}/acme/alpha"), None);
    assert_eq!((s, latest["version"].as_str()), (200, Some("1.1.0")));
    let (s, versions) = get(VERSIONS, &format!("{base}/acme/alpha/versions"), None);
    assert_eq!(s, 200);
    let listed: Vec<&str> =
        versions["skills"].as_array().unwrap().iter().map(|v| v["version"].as_str().unwrap()).collect();
    assert_eq!(listed, ["1.1.0", "1.0.0"]);
    assert_eq!(versions["metadata"]["count"], 2);
    let (s, one) = get(VERSION, &format!("{base}/acme/alpha/versions/1.0.0"), None);
    assert_eq!((s, one["version"].as_str()), (200, Some("1.0.0")));

    // Private: exactly as absent to outsiders, on every endpoint; present to members.
    for (template, suffix) in [(LATEST, ""), (VERSIONS, "/versions"), (VERSION, "/versions/1.0.0")] {
        let (s, hidden) = get(template, &format!("{base}/acme/secret{suffix}"), Some(&eve));
        let (_, absent) = get(template, &format!("{base}/acme/nothing{suffix}"), Some(&eve));
        assert_eq!(s, 404, "{hidden}");
        assert_eq!(
            hidden["error"].as_str().unwrap().replace("secret", "X"),
            absent["error"].as_str().unwrap().replace("nothing", "X")
        );
        let (s, _) = get(template, &format!("{base}/acme/secret{suffix}"), Some(&admin));
        assert_eq!(s, 200);
    }

    // Bad input: ToolHive's error shape, never a 500.
    for (path, want) in [
        (format!("{base}?limit=0"), 400),
        (format!("{base}?limit=101"), 400),
        (format!("{base}?limit=ten"), 400),
        (format!("{base}?cursor=not-a-cursor"), 400),
        (format!("{base}?status=gone"), 400),
        (format!("{base}?search={}", "x".repeat(5000)), 400),
    ] {
        let (s, body) = get(LIST, &path, None);
        assert_eq!(s, want, "{path}: {body}");
    }
    for (template, path, want) in [
        (LATEST, format!("{base}/Bad_NS/alpha"), 400),
        (LATEST, format!("{base}/acme/UPPER"), 400),
        (VERSION, format!("{base}/acme/alpha/versions/not.semver"), 400),
        (VERSION, format!("{base}/acme/alpha/versions/9.9.9"), 404),
    ] {
        let (s, body) = get(template, &path, None);
        assert_eq!(s, want, "{path}: {body}");
    }
    let (s, body) = get(LIST, base, Some("sk_not_a_token"));
    assert_eq!(s, 401, "{body}");

    // Publishing as ToolHive does: an artifact pushed with skopeo, then POST /v1/entries.
    let repo = format!("{}/acme/beta", serve.addr);
    // acme/beta at `version`, packed as an OCI layout and pushed to `repo:version` by skopeo.
    let push = |version: &str| {
        let skill = skill_dir(root, "beta", version, &[]);
        let (layout, archive) = (root.join(format!("layout-{version}")), root.join(format!("beta-{version}.tgz")));
        let (skill, archive, dir) = (skill.to_str().unwrap(), archive.to_str().unwrap(), layout.to_str().unwrap());
        serve.ok(None, &["pack", skill, "-o", archive, "--oci-layout", dir, "-n", "acme"]);
        let copy = skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-creds",
            &format!("admin:{admin}"),
            &format!("oci:{}:{version}", layout.display()),
            &format!("docker://{repo}:{version}"),
        ]);
        assert!(copy.status.success(), "{}", String::from_utf8_lossy(&copy.stderr));
    };
    push("1.0.0");
    let entry = |version: &str, identifier: &str| {
        json!({"claims": {"org": "acme"}, "skill": {"namespace": "acme", "name": "beta", "version": version,
            "description": "The beta skill", "title": "Beta", "status": "active",
            "packages": [{"registryType": "oci", "identifier": identifier}]}})
    };
    let post = |token: Option<&str>, body: &Value| {
        let (s, b) = http_json(serve.addr, "POST", ENTRIES, token, Some(body));
        spec.check("post", ENTRIES, s, &b);
        (s, b)
    };
    let (s, body) = post(None, &entry("1.0.0", &format!("{repo}:1.0.0")));
    assert_eq!(s, 401, "{body}");
    let (s, body) = post(Some(&eve), &entry("1.0.0", &format!("{repo}:1.0.0")));
    assert_eq!(s, 403, "{body}");
    let (_, listed) = get(LIST, base, Some(&admin));
    assert!(!names(&listed).contains(&"acme/beta".to_owned()), "a refused publish creates nothing");
    let (s, published) = post(Some(&admin), &entry("1.0.0", &format!("{repo}:1.0.0")));
    assert_eq!(s, 201, "{published}");
    spec.check("get", LATEST, 200, &published);
    assert_eq!((published["version"].as_str(), published["title"].as_str()), (Some("1.0.0"), Some("Beta")));
    assert!(published["packages"][0]["digest"].as_str().unwrap().starts_with("sha256:"));
    let (s, body) = post(Some(&admin), &entry("1.0.0", &format!("{repo}:1.0.0")));
    assert_eq!(s, 409, "{body}");
    let (s, fetched) = get(LATEST, &format!("{base}/acme/beta"), None);
    assert_eq!((s, &fetched["packages"]), (200, &published["packages"]));

    // The artifact says 1.0.0: publishing it as 2.0.0 is refused, and leaves nothing.
    let (s, body) = post(Some(&admin), &entry("2.0.0", &format!("{repo}:1.0.0")));
    assert_eq!(s, 422, "{body}");
    let digest = published["packages"][0]["digest"].as_str().unwrap();
    for (what, body, want) in [
        ("a server", json!({"server": {"name": "io.github.x/y"}}), 400),
        ("neither", json!({"claims": {}}), 400),
        ("claims not an object", json!({"claims": 5, "skill": entry("3.0.0", &repo)["skill"]}), 400),
        ("both", json!({"skill": entry("3.0.0", &repo)["skill"], "server": {}}), 400),
        (
            "no OCI package",
            json!({"skill": {"namespace": "acme", "name": "beta", "version": "3.0.0",
            "packages": [{"registryType": "git", "url": "https://github.com/acme/beta"}]}}),
            400,
        ),
        (
            "pinned twice, differently",
            json!({"skill": {"namespace": "acme", "name": "beta", "version": "3.0.0",
            "packages": [{"registryType": "oci", "identifier": format!("{repo}@sha256:{}", "0".repeat(64)), "digest": digest}]}}),
            400,
        ),
        ("bad namespace", json!({"skill": {"namespace": "Not A Namespace", "name": "beta", "version": "1.0.0"}}), 400),
        ("not JSON", json!("{{{"), 400),
    ] {
        let (s, b) = post(Some(&admin), &body);
        assert_eq!(s, want, "{what}: {b}");
    }
    let (s, body) = http_raw(serve.addr, "POST", ENTRIES, Some(&admin), "application/json", b"{not json");
    spec.check("post", ENTRIES, s, &body);
    assert_eq!(s, 400);
    let huge = vec![b' '; 2 << 20];
    let (s, body) = http_raw(serve.addr, "POST", ENTRIES, Some(&admin), "application/json", &huge);
    assert_eq!(s, 413, "{body}");
    assert!(body["error"].is_string(), "{body}");

    // The documented publish on the extension path, the Skill as the body, by an agent token
    // made to publish (an agent-bridge token may not). The answer is ToolHive's Skill.
    push("1.1.0");
    let agent = |kind: &str| {
        let t = serve.json(Some(&admin), &["token", "create", "--name", kind, "--kind", kind]);
        t["token"].as_str().unwrap().to_owned()
    };
    let body = json!({"namespace": "acme", "name": "beta", "title": "Beta", "description": "The beta skill",
        "version": "1.1.0", "status": "active", "license": "Apache-2.0", "allowedTools": ["Read"],
        "packages": [{"registryType": "oci", "identifier": repo, "ref": "1.1.0"}],
        "repository": {"type": "git", "url": "https://github.com/acme/beta"}});
    let path = LIST.replace("{registryName}", "default");
    let (s, refused) = http_json(serve.addr, "POST", &path, Some(&agent("agent-bridge")), Some(&body));
    assert_eq!(s, 403, "{refused}");
    assert!(refused["error"].is_string() && refused.as_object().unwrap().len() == 1, "{refused}");
    let publisher = agent("agent-publisher");
    let (s, published) = http_json(serve.addr, "POST", &path, Some(&publisher), Some(&body));
    assert_eq!(s, 201, "{published}");
    spec.check("get", LATEST, 200, &published);
    assert_eq!(published["version"], "1.1.0");
    let (s, again) = http_json(serve.addr, "POST", &path, Some(&publisher), Some(&body));
    assert_eq!(s, 409, "{again}");
    serve.stop();
}
