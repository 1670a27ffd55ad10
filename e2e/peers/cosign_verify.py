"""An independent check of cosign's legacy key signatures (no cosign binary can be installed
here): reads the `sha256-<hex>.sig` manifest over plain HTTP and verifies every simple-signing
layer with the `cryptography` package, as `cosign verify --key` does.

usage: cosign_verify.py HOST REPO DIGEST PUBLIC_KEY_PEM [USER PASSWORD]
Prints `VERIFIED <n>` and exits 0 when at least one signature verifies.
"""
import base64
import json
import sys
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

host, repo, digest, pub_path = sys.argv[1:5]
auth = None
if len(sys.argv) > 6:
    auth = "Basic " + base64.b64encode(f"{sys.argv[5]}:{sys.argv[6]}".encode()).decode()


def get(path: str, accept: str = "*/*") -> bytes:
    req = urllib.request.Request(f"http://{host}/v2/{repo}/{path}", headers={"Accept": accept})
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req) as resp:
        return resp.read()


key = serialization.load_pem_public_key(open(pub_path, "rb").read())
tag = digest.replace(":", "-") + ".sig"
manifest = json.loads(get(f"manifests/{tag}", "application/vnd.oci.image.manifest.v1+json"))
verified = 0
for layer in manifest["layers"]:
    if layer["mediaType"] != "application/vnd.dev.cosign.simplesigning.v1+json":
        continue
    payload = get(f"blobs/{layer['digest']}")
    claims = json.loads(payload)
    if claims["critical"]["image"]["docker-manifest-digest"] != digest:
        continue
    if claims["critical"]["type"] != "cosign container image signature":
        continue
    signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
    try:
        key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        verified += 1
    except InvalidSignature:
        pass
print(f"VERIFIED {verified}")
sys.exit(0 if verified else 1)
