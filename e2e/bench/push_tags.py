#!/usr/bin/env python3
"""Pushes COUNT versions of one skill to a registry as plain single-layer artifacts, one tag
each (1.0.0, 1.0.1, ...), each with its own SKILL.md, over the distribution API. For the
sources benchmark.

Usage: push_tags.py REGISTRY REPOSITORY NAME COUNT
"""
import hashlib
import io
import json
import sys
import tarfile
import urllib.request

registry, repo, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = f"http://{registry}/v2/{repo}"


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as resp:
        return resp.status, dict(resp.headers)


def push_blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _, headers = request("POST", f"{base}/blobs/uploads/")
    location = headers["Location"]
    if not location.startswith("http"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
    return digest


def archive(version):
    text = (
        f"---\nname: {name}\ndescription: Benchmark skill, version {version}\nversion: {version}\n---\n"
        f"# {name}\n\nVersion {version}. " + "Steps to follow, checks to run. " * 40 + "\n"
    ).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("SKILL.md")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return raw.getvalue()


config = b"{}"
config_digest = push_blob(config)
total = 0
for i in range(count):
    version = f"1.0.{i}"
    layer = archive(version)
    layer_digest = push_blob(layer)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.example.skill",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": len(layer)}],
    }).encode()
    request("PUT", f"{base}/manifests/{version}", manifest, {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    total += len(layer) + len(manifest)
print(total + len(config))
