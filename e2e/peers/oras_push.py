#!/usr/bin/env python3
"""Pushes a skill archive with oras-py, as a third-party tool would, for e2e tests.

Usage: oras_push.py HOST REPO TAG ARCHIVE.tar.gz
One tar+gzip layer and a custom config; prints the manifest digest on the last line.
"""
import os
import sys

import oras.provider

host, repo, tag, archive = sys.argv[1:5]
os.chdir(os.path.dirname(os.path.abspath(archive)))
with open("oras-config.json", "w") as f:
    f.write('{"pushedBy":"oras-py"}')
registry = oras.provider.Registry(hostname=host, insecure=True)
response = registry.push(
    f"{host}/{repo}:{tag}",
    files=[f"{os.path.basename(archive)}:application/vnd.oci.image.layer.v1.tar+gzip"],
    manifest_config="oras-config.json:application/vnd.example.skill.config.v1+json",
)
if response.status_code not in (200, 201):
    sys.exit(f"push failed: {response.status_code} {response.text}")
print(response.headers.get("Docker-Content-Digest"))
