"""cosign's legacy keyless signature, made from parts a real signer produced: cosign (not
installable here) signs the simple-signing payload with a Fulcio certificate, logs a
hashedrekord entry in Rekor and stores the result as one layer of the `sha256-<hex>.sig`
manifest, with the signature, certificate and Rekor bundle as annotations. sigstore-python
does the same signing and logging over the payload file; this script writes the payload and
then turns sigstore-python's bundle into cosign's layer.

usage: legacy_sig.py payload DOCKER_REFERENCE DIGEST OUT
       legacy_sig.py attach HOST REPO DIGEST PAYLOAD BUNDLE [USER PASSWORD]
"""
import base64
import hashlib
import json
import sys
import urllib.error
import urllib.request

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"

if sys.argv[1] == "payload":
    reference, digest, out = sys.argv[2:5]
    payload = {
        "critical": {
            "identity": {"docker-reference": reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    open(out, "w").write(json.dumps(payload, separators=(",", ":")))
    sys.exit(0)

host, repo, digest, payload_path, bundle_path = sys.argv[2:7]
auth = None
if len(sys.argv) > 8:
    auth = "Basic " + base64.b64encode(f"{sys.argv[7]}:{sys.argv[8]}".encode()).decode()


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


payload = open(payload_path, "rb").read()
bundle = json.load(open(bundle_path))
material = bundle["verificationMaterial"]
cert_der = base64.b64decode(material["certificate"]["rawBytes"])
cert_pem = "-----BEGIN CERTIFICATE-----\n"
b64 = base64.b64encode(cert_der).decode()
cert_pem += "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + "\n-----END CERTIFICATE-----\n"
entry = material["tlogEntries"][0]
rekor_bundle = {
    "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
    "Payload": {
        "body": entry["canonicalizedBody"],
        "integratedTime": int(entry["integratedTime"]),
        "logIndex": int(entry["logIndex"]),
        "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
    },
}

tag = digest.replace(":", "-") + ".sig"
try:
    manifest = json.loads(call("GET", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST}).read())
except urllib.error.HTTPError as e:
    if e.code != 404:
        raise
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": {"mediaType": CONFIG, **push_blob(b"{}")},
                "layers": []}
manifest["layers"].append({
    "mediaType": SIMPLE_SIGNING,
    **push_blob(payload),
    "annotations": {
        "dev.cosignproject.cosign/signature": bundle["messageSignature"]["signature"],
        "dev.sigstore.cosign/certificate": cert_pem,
        "dev.sigstore.cosign/bundle": json.dumps(rekor_bundle, separators=(",", ":")),
    },
})
call("PUT", f"/v2/{repo}/manifests/{tag}", json.dumps(manifest).encode(), {"Content-Type": MANIFEST})
print(tag)
