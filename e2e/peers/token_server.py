#!/usr/bin/env python3
"""Bearer-token server for CNCF distribution's `auth.token` mode, for e2e tests only.

Usage: token_server.py PORT KEY.pem CERT.pem   (binds 127.0.0.1 only)

Issues ES256 JWTs with an x5c header. Anonymous callers get pull access only; the user
`skilluser` with password `s3cret` gets what it asks for.
"""
import base64
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

PORT, KEY, CERT = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ISSUER, SERVICE = "skills-test-issuer", "skills-registry"
USERS = {"skilluser": "s3cret"}
key = serialization.load_pem_private_key(open(KEY, "rb").read(), None)
der = x509.load_pem_x509_certificate(open(CERT, "rb").read()).public_bytes(serialization.Encoding.DER)
x5c = [base64.b64encode(der).decode()]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        user = None
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if USERS.get(name) != password:
                self.send_response(401)
                self.end_headers()
                return
            user = name
        access = []
        for scope in query.get("scope", []):  # repository:skills/x:pull,push
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            granted = actions.split(",") if user else [a for a in actions.split(",") if a == "pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": user or "", "aud": query.get("service", [SERVICE])[0],
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access,
        }
        token = jwt.encode(claims, key, algorithm="ES256", headers={"x5c": x5c})
        body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


HTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
