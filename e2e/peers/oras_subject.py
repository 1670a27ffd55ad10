#!/usr/bin/env python3
"""oras-py against skilldex's embedded store, for e2e tests.

Usage: oras_subject.py HOST USER TOKEN REPO SUBJECT_DIGEST SUBJECT_SIZE WORKDIR PULL_DIGEST
Pulls REPO@PULL_DIGEST (an image manifest: oras-py does not descend into indexes), then pushes a note whose subject is SUBJECT_DIGEST (an image index of
SUBJECT_SIZE bytes) under the tag `note`. Prints the pulled files, then the note's digest.
"""
import os
import sys

import oras.oci
import oras.provider

host, user, token, repo, subject_digest, subject_size, workdir, pull_digest = sys.argv[1:9]
os.chdir(workdir)
registry = oras.provider.Registry(hostname=host, insecure=True, auth_backend="basic")
registry.auth.set_basic_auth(user, token)

pulled = registry.pull(f"{host}/{repo}@{pull_digest}", outdir="pulled")
print("pulled", " ".join(sorted(os.path.relpath(p, "pulled") for p in pulled)))

with open("note.json", "w") as f:
    f.write('{"reviewed":true}')
subject = oras.oci.Subject("application/vnd.oci.image.index.v1+json", subject_digest, int(subject_size))
response = registry.push(
    f"{host}/{repo}:note",
    files=["note.json:application/vnd.example.review.v1+json"],
    manifest_config="note.json:application/vnd.example.review.config.v1+json",
    subject=subject,
)
if response.status_code not in (200, 201):
    sys.exit(f"push failed: {response.status_code} {response.text}")
print(response.headers.get("Docker-Content-Digest"))
