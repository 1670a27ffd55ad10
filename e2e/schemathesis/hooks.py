"""Schemathesis hooks for skilldex's API fuzzing test (e2e/api_fuzz.rs).

Each hook covers something a JSON Schema cannot say; the reason is beside it. Case hooks
(`filter_case`, `map_case`) are used because they apply in every phase.
"""
import datetime
import os

import schemathesis


@schemathesis.serializer("application/x-tar", "application/gzip")
def binary(ctx, value):
    """Archives and bundles are sent as the raw bytes generated for them."""
    if isinstance(value, (bytes, bytearray)):
        return {"data": bytes(value)}
    return {"data": str(value).encode()}


# The token the run authenticates with: revoking it would end the run, so its id is not
# generated as a path parameter (revocation itself is tested in the suite).
OWN_TOKEN_ID = os.environ.get("SKILLDEX_FUZZ_TOKEN_ID", "")


@schemathesis.hook
def filter_case(ctx, case):
    return not OWN_TOKEN_ID or (case.path_parameters or {}).get("id") != OWN_TOKEN_ID


def in_the_past(value):
    try:
        when = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        return False
    return when <= datetime.datetime.now(datetime.timezone.utc)


def is_negative(case):
    """Whether the case was made to break the schema: such a case must be refused anyway, so
    it goes out as generated (a made-up cursor included)."""
    mode = getattr(getattr(getattr(case, "meta", None), "generation", None), "mode", None)
    return str(getattr(mode, "value", mode)).lower() == "negative"


@schemathesis.hook
def map_case(ctx, case):
    if is_negative(case):
        return case
    # A cursor is opaque: only the `cursor` of a previous page is one, and any other value is
    # a 400 (tested in the suite).
    query = case.query
    if query:
        query.pop("cursor", None)
        # `min_similarity` applies to semantic and hybrid search only: a rule across two
        # parameters that OpenAPI cannot state.
        # Semantic and hybrid search need words to search for in `q`.
        if query.get("mode") in ("semantic", "hybrid") and not any(c.isalnum() for c in str(query.get("q") or "")):
            query.pop("mode")
        if query.get("mode") not in ("semantic", "hybrid"):
            query.pop("min_similarity", None)
        # Semantic and hybrid results are ordered by relevance only: the same kind of rule.
        elif query.get("sort") not in (None, "relevance"):
            query.pop("sort")
    # A token's `expiresAt` must be in the future: a rule relative to the clock.
    body = case.body
    if isinstance(body, dict) and in_the_past(body.get("expiresAt")):
        body["expiresAt"] = "2999-01-01T00:00:00Z"
    return case
