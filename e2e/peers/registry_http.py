"""The few distribution-API calls the e2e peers need, over plain HTTP to a loopback
registry (distribution or skilldex's embedded store), with optional basic auth."""
import base64
import hashlib
import urllib.request


class Registry:
    def __init__(self, host: str, repo: str, user: str | None = None, password: str | None = None):
        self.host, self.repo = host, repo
        self.auth = None
        if user is not None:
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(self, method: str, url: str, data: bytes | None = None, headers: dict | None = None):
        if not url.startswith("http"):
            url = f"http://{self.host}{url}"
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        if self.auth:
            req.add_header("Authorization", self.auth)
        return urllib.request.urlopen(req)

    def push_blob(self, data: bytes) -> dict:
        """Uploads a blob (POST then PUT); returns its digest and size."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        location = self.call("POST", f"/v2/{self.repo}/blobs/uploads/").headers["Location"]
        sep = "&" if "?" in location else "?"
        self.call("PUT", f"{location}{sep}digest={digest}", data, {"Content-Type": "application/octet-stream"})
        return {"digest": digest, "size": len(data)}

    def get_manifest(self, reference: str, accept: str) -> bytes:
        return self.call("GET", f"/v2/{self.repo}/manifests/{reference}", headers={"Accept": accept}).read()

    def put_manifest(self, reference: str, data: bytes, media_type: str):
        return self.call("PUT", f"/v2/{self.repo}/manifests/{reference}", data, {"Content-Type": media_type})
