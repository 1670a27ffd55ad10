"""Pushes blobs and one manifest exactly as given, over the distribution API, so the suite
can put malformed or hostile content where a registry client would find it.

usage: push_raw.py HOST REPO REFERENCE MEDIA_TYPE MANIFEST_FILE [BLOB_FILE...] [--auth USER PASSWORD]
Prints the manifest's digest.
"""
import hashlib
import sys

from registry_http import Registry

args = sys.argv[1:]
credentials = []
if "--auth" in args:
    i = args.index("--auth")
    credentials = args[i + 1:i + 3]
    args = args[:i] + args[i + 3:]
host, repo, reference, media_type, manifest_file, *blob_files = args
registry = Registry(host, repo, *credentials)
for path in blob_files:
    registry.push_blob(open(path, "rb").read())
manifest = open(manifest_file, "rb").read()
registry.put_manifest(reference, manifest, media_type)
print("sha256:" + hashlib.sha256(manifest).hexdigest())
