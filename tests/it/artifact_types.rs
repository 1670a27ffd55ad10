//! `artifact-types/`: every example validates against its layout's JSON Schemas and is read
//! by skilldex's own reader as that layout; the ToolHive examples are exactly what the
//! writer produces, so the documented layout cannot drift from the code.

use std::path::{Path, PathBuf};

use serde_json::Value;
use skilldex::bundle::{Bundle, Limits};
use skilldex::oci::LayoutKind;
use skilldex::oci::layout::{self, TopLevel};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("artifact-types")
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check(schema: &Path, instance: &Value, what: &str) {
    let validator = jsonschema::validator_for(&load(schema)).unwrap_or_else(|e| panic!("{}: {e}", schema.display()));
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} against {}: {errors:?}", schema.display());
}

fn schema_for(dir: &Path, example: &str) -> PathBuf {
    let kind = if example.ends_with("manifest") { "manifest" } else { example };
    dir.join(format!("{kind}.schema.json"))
}

#[test]
fn every_example_validates_and_reads_as_its_layout() {
    let mut checked = 0;
    for (dir, kind) in [
        ("toolhive", LayoutKind::ToolHive),
        ("agentskills", LayoutKind::AgentSkills),
        ("tar-gzip", LayoutKind::PlainTarGzip),
    ] {
        let dir = root().join(dir);
        assert!(dir.join("README.md").exists(), "{} documents its layout", dir.display());
        for entry in std::fs::read_dir(dir.join("examples")).unwrap() {
            let path = entry.unwrap().path();
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let doc = load(&path);
            check(&schema_for(&dir, &stem), &doc, &path.display().to_string());
            let bytes = std::fs::read(&path).unwrap();
            match stem.as_str() {
                s if s.ends_with("manifest") => {
                    let TopLevel::Manifest(m) = layout::parse_top(&bytes).unwrap() else {
                        panic!("{s}: not a manifest")
                    };
                    assert_eq!(layout::classify(&m).unwrap().0, kind, "{}", path.display());
                    if kind == LayoutKind::ToolHive {
                        check(&dir.join("annotations.schema.json"), &doc["annotations"], "manifest annotations");
                    }
                }
                "index" => {
                    let TopLevel::Index(i) = layout::parse_top(&bytes).unwrap() else { panic!("not an index") };
                    assert_eq!(layout::pick_from_index(&i).unwrap().platform.as_ref().unwrap().architecture, "amd64");
                    check(&dir.join("annotations.schema.json"), &doc["annotations"], "index annotations");
                }
                "config" if kind == LayoutKind::ToolHive => {
                    check(&dir.join("labels.schema.json"), &doc["config"]["Labels"], "config labels");
                }
                _ => {}
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 7);
}

#[test]
fn schemas_reject_what_the_reader_rejects() {
    let th = root().join("toolhive");
    let mut two_layers = load(&th.join("examples/manifest.json"));
    let layer = two_layers["layers"][0].clone();
    two_layers["layers"].as_array_mut().unwrap().push(layer);
    let validator = jsonschema::validator_for(&load(&th.join("manifest.schema.json"))).unwrap();
    assert!(!validator.is_valid(&two_layers));
    let m: layout::Manifest = serde_json::from_value(two_layers).unwrap();
    assert!(layout::classify(&m).is_err(), "the reader refuses two content layers too");

    let mut no_files = load(&th.join("examples/config.json"))["config"]["Labels"].clone();
    no_files.as_object_mut().unwrap().remove("dev.toolhive.skills.files");
    assert!(!jsonschema::validator_for(&load(&th.join("labels.schema.json"))).unwrap().is_valid(&no_files));
}

#[test]
fn toolhive_examples_are_what_the_writer_produces() {
    let th = root().join("toolhive");
    let bundle = Bundle::from_dir(&th.join("example/code-reviewer"), &Limits::default()).unwrap();
    let packed = bundle.pack(0);
    let id = skilldex::oci::Identity { namespace: "acme", name: "code-reviewer", version: "1.2.0" };
    let artifact = layout::build_toolhive(&bundle, &packed, &id, None);
    let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
    assert_eq!(parse(&artifact.index.data), load(&th.join("examples/index.json")));
    assert_eq!(parse(&artifact.manifests[0].data), load(&th.join("examples/manifest.json")));
    assert_eq!(parse(&artifact.configs[0].data), load(&th.join("examples/config.json")));
}
