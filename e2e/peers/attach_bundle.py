"""Attaches a Sigstore bundle to an artifact as an OCI referrer, the way cosign's new bundle
format does: an image manifest (artifactType bundle v0.3, empty config, one bundle layer)
whose subject is the artifact. Where the registry has no referrers API, it also updates the
`sha256-<hex>` fallback index, as the distribution spec asks clients to.

usage: attach_bundle.py HOST REPO SUBJECT_DIGEST SUBJECT_SIZE SUBJECT_MEDIA_TYPE BUNDLE [USER PASSWORD]
"""
import base64
import hashlib
import json
import sys
import urllib.error
import urllib.request

host, repo, digest, size, media_type, bundle_path = sys.argv[1:7]
auth = None
if len(sys.argv) > 8:
    auth = "Basic " + base64.b64encode(f"{sys.argv[7]}:{sys.argv[8]}".encode()).decode()
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = "application/vnd.oci.empty.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def call(method, url, data=None, headers=None):
    if not url.startswith("http"):
        url = f"http://{host}{url}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if auth:
        req.add_header("Authorization", auth)
    return urllib.request.urlopen(req)


def push_blob(data: bytes) -> dict:
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    location = call("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    sep = "&" if "?" in location else "?"
    call("PUT", f"{location}{sep}digest={d}", data, {"Content-Type": "application/octet-stream"})
    return {"digest": d, "size": len(data)}


bundle = open(bundle_path, "rb").read()
config = push_blob(b"{}")
layer = push_blob(bundle)
manifest = json.dumps({
    "schemaVersion": 2,
    "mediaType": MANIFEST,
    "artifactType": BUNDLE,
    "config": {"mediaType": EMPTY, **config},
    "layers": [{"mediaType": BUNDLE, **layer}],
    "subject": {"mediaType": media_type, "digest": digest, "size": int(size)},
}).encode()
manifest_digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
resp = call("PUT", f"/v2/{repo}/manifests/{manifest_digest}", manifest, {"Content-Type": MANIFEST})
if "OCI-Subject" not in resp.headers:
    tag = digest.replace(":", "-")
    try:
        index = json.loads(call("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": INDEX}).read())
    except urllib.error.HTTPError as e:
        if e.code != 404:
            raise
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    index["manifests"].append({"mediaType": MANIFEST, "digest": manifest_digest, "size": len(manifest),
                               "artifactType": BUNDLE})
    call("PUT", f"/v2/{repo}/manifests/{tag}", json.dumps(index).encode(), {"Content-Type": INDEX})
print(manifest_digest)
