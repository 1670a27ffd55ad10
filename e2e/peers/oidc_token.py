"""Prints an identity token the mock Fulcio accepts (it does not check the signature).

usage: oidc_token.py [SUBJECT] [ISSUER]
"""
import base64
import json
import sys
import time


def part(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


subject = sys.argv[1] if len(sys.argv) > 1 else "signer@skills.test"
issuer = sys.argv[2] if len(sys.argv) > 2 else "https://oidc.skills.test"
now = int(time.time())
claims = {"iss": issuer, "aud": "sigstore", "sub": subject, "email": subject, "email_verified": True,
          "iat": now, "nbf": now, "exp": now + 600}
signature = base64.urlsafe_b64encode(b"unsigned").rstrip(b"=").decode()
print(part({"alg": "RS256", "typ": "JWT", "kid": "mock"}) + "." + part(claims) + "." + signature)
