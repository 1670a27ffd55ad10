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
import json
import sys
import urllib.error

from registry_http import Registry

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
registry = Registry(host, repo, *sys.argv[7:9])


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
    manifest = json.loads(registry.get_manifest(tag, MANIFEST))
except urllib.error.HTTPError as e:
    if e.code != 404:
        raise
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": {"mediaType": CONFIG, **registry.push_blob(b"{}")},
                "layers": []}
manifest["layers"].append({
    "mediaType": SIMPLE_SIGNING,
    **registry.push_blob(payload),
    "annotations": {
        "dev.cosignproject.cosign/signature": bundle["messageSignature"]["signature"],
        "dev.sigstore.cosign/certificate": cert_pem,
        "dev.sigstore.cosign/bundle": json.dumps(rekor_bundle, separators=(",", ":")),
    },
})
registry.put_manifest(tag, json.dumps(manifest).encode(), MANIFEST)
print(tag)
