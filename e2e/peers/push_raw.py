"""Pushes blobs and one manifest exactly as given, over the distribution API, so the suite
can put malformed or hostile content where a registry client would find it.

usage: push_raw.py HOST REPO REFERENCE MEDIA_TYPE MANIFEST_FILE [BLOB_FILE...] [--auth USER PASSWORD]
Prints the manifest's digest.
"""
import base64
import hashlib
import sys
import urllib.request

args = sys.argv[1:]
auth = None
if "--auth" in args:
    i = args.index("--auth")
    auth = "Basic " + base64.b64encode(f"{args[i + 1]}:{args[i + 2]}".encode()).decode()
    args = args[:i] + args[i + 3:]
host, repo, reference, media_type, manifest_file, *blob_files = args


def call(method, url, data=None, headers=None):
    if not url.startswith("http"):
        url = f"http://{host}{url}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if auth:
        req.add_header("Authorization", auth)
    return urllib.request.urlopen(req)


for path in blob_files:
    data = open(path, "rb").read()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    location = call("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
    sep = "&" if "?" in location else "?"
    call("PUT", f"{location}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})

manifest = open(manifest_file, "rb").read()
call("PUT", f"/v2/{repo}/manifests/{reference}", manifest, {"Content-Type": media_type})
print("sha256:" + hashlib.sha256(manifest).hexdigest())
