//! The registry client's tag listing and referrers against CNCF distribution, which has no
//! referrers API: the `sha256-<hex>` tag fallback, artifactType filtering, and an outage
//! reported as an error rather than as "no referrers".

use std::collections::BTreeMap;

use skilldex::bundle::{Bundle, Limits};
use skilldex::oci::layout::{self, Blob, Identity, Index, Manifest, media};
use skilldex::oci::{CredentialSource, Registries, parse_reference};

use crate::common::skill_dir;
use crate::registry::{Auth, DistRegistry, peers_available};

const SIG_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

#[test]
fn referrers_fall_back_to_the_digest_tag_and_outages_are_errors() {
    if !peers_available() {
        return;
    }
    let mut reg = DistRegistry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let registries = Registries::new(CredentialSource::default());
        let bundle = Bundle::from_dir(&skill_dir(dir.path(), "demo", "1.0.0", &[]), &Limits::default()).unwrap();
        let artifact = layout::build_toolhive(
            &bundle,
            &bundle.pack(0),
            &Identity { namespace: "acme", name: "demo", version: "1.0.0" },
            None,
        );
        let repo = format!("{}/skills/acme/demo", reg.host);
        registries.push(&parse_reference(&format!("{repo}:1.0.0")).unwrap(), &artifact, &|_| {}).await.unwrap();
        let subject = parse_reference(&format!("{repo}@{}", artifact.digest())).unwrap();
        assert!(registries.referrers(&subject, None).await.unwrap().is_empty(), "nothing refers to it yet");

        // A signature-like artifact whose subject is the skill, and the fallback index that
        // lists it (distribution does not maintain it).
        let empty = Blob::new(media::EMPTY, b"{}".to_vec());
        let payload = Blob::new(SIG_TYPE, br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#.to_vec());
        let repo_ref = parse_reference(&format!("{repo}:unused")).unwrap();
        registries.push_blob(&repo_ref, &empty).await.unwrap();
        registries.push_blob(&repo_ref, &payload).await.unwrap();
        let mut subject_desc = artifact.index.descriptor();
        subject_desc.artifact_type = None;
        let sig = Manifest {
            schema_version: 2,
            media_type: Some(media::MANIFEST.into()),
            artifact_type: Some(SIG_TYPE.into()),
            config: empty.descriptor(),
            layers: vec![payload.descriptor()],
            subject: Some(subject_desc),
            annotations: None,
        };
        let sig = Blob::new(media::MANIFEST, serde_json::to_vec(&sig).unwrap());
        registries.push_manifest_at(&parse_reference(&format!("{repo}@{}", sig.digest)).unwrap(), &sig).await.unwrap();
        let mut entry = sig.descriptor();
        entry.artifact_type = Some(SIG_TYPE.into());
        entry.annotations = Some(BTreeMap::new());
        let fallback = Index::listing(vec![entry]);
        let fallback = Blob::new(media::INDEX, serde_json::to_vec(&fallback).unwrap());
        let tag = artifact.digest().replace(':', "-");
        registries.push_manifest_at(&parse_reference(&format!("{repo}:{tag}")).unwrap(), &fallback).await.unwrap();

        let found = registries.referrers(&subject, None).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].digest, sig.digest);
        assert_eq!(registries.referrers(&subject, Some(SIG_TYPE)).await.unwrap().len(), 1);
        assert!(registries.referrers(&subject, Some("application/vnd.example.other")).await.unwrap().is_empty());

        let tags = registries.tags(&repo_ref).await.unwrap();
        assert!(tags.contains(&"1.0.0".to_owned()) && tags.contains(&tag), "{tags:?}");

        reg.stop();
        let err = registries.referrers(&subject, None).await.unwrap_err();
        assert!(matches!(err, skilldex::oci::OciError::Unreachable(..)), "{err:?}");
    });
}
