"""Attaches a Sigstore bundle to an artifact as an OCI referrer, the way cosign's new bundle
format does: an image manifest (artifactType bundle v0.3, empty config, one bundle layer)
whose subject is the artifact. Where the registry has no referrers API, it also updates the
`sha256-<hex>` fallback index, as the distribution spec asks clients to.

usage: attach_bundle.py HOST REPO SUBJECT_DIGEST SUBJECT_SIZE SUBJECT_MEDIA_TYPE BUNDLE [USER PASSWORD]
"""
import hashlib
import json
import sys
import urllib.error

from registry_http import Registry

host, repo, digest, size, media_type, bundle_path = sys.argv[1:7]
registry = Registry(host, repo, *sys.argv[7:9])
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"

bundle = open(bundle_path, "rb").read()
config = registry.push_blob(b"{}")
layer = registry.push_blob(bundle)
manifest = json.dumps({
    "schemaVersion": 2,
    "mediaType": MANIFEST,
    "artifactType": BUNDLE,
    "config": {"mediaType": EMPTY, **config},
    "layers": [{"mediaType": BUNDLE, **layer}],
    "subject": {"mediaType": media_type, "digest": digest, "size": int(size)},
}).encode()
manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
resp = registry.put_manifest(manifest_digest, manifest, MANIFEST)
if "OCI-Subject" not in resp.headers:
    tag = digest.replace(":", "-")
    try:
        index = json.loads(registry.get_manifest(tag, INDEX))
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    index["manifests"].append({"mediaType": MANIFEST, "digest": manifest_digest, "size": len(manifest),
                               "artifactType": BUNDLE})
    registry.put_manifest(tag, json.dumps(index).encode(), INDEX)
print(manifest_digest)
