"""The little REST client the search benchmarks share."""

import gzip
import io
import json
import tarfile
import urllib.error
import urllib.request


def call(server, token, method, path, body=None, timeout=60):
    """One request with a bearer token; returns (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def bundle(name, description, heading, version=None):
    """A minimal skill archive (tar.gz): SKILL.md at the root naming the skill, as
    `skilldex pack` makes one."""
    version_line = f"version: {version}\n" if version else ""
    text = f"---\nname: {name}\ndescription: {description}\n{version_line}---\n\n# {heading}\n".encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("SKILL.md")
        info.size, info.mtime, info.mode = len(text), 0, 0o644
        tar.addfile(info, io.BytesIO(text))
    return gzip.compress(raw.getvalue(), mtime=0)
