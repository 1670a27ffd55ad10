#!/usr/bin/env python3
"""Seeds a large catalog through the REST API for the search load benchmark (not a test).

Usage: search_seed.py SERVER_URL ADMIN_TOKEN COUNT

Creates 50 teams and COUNT skills spread over them, 20 % private, each with a realistic
12-word description drawn from a fixed vocabulary (seeded, so every run seeds the same
catalog). About a quarter of the descriptions carry the word "review"; "zeppelin" is in about
ten. 2 % of the skills (public) get a published version 1.0.0, uploaded as an archive, so the
surfaces that list only published skills (ToolHive, npm) have answers to rank.
Prints the seeding throughput and, on its last line, a member token (a user in five of the
teams) for measuring searches as a signed-in member.
"""

import hashlib
import random
import urllib.request
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from skilldex_api import bundle, call

WORDS = (
    "code test deploy service cluster database query cache index schema migrate build release "
    "lint format security audit token secret policy network proxy route gateway queue stream "
    "event worker job schedule backup restore monitor alert metric trace log dashboard report "
    "python rust go java typescript react vue mobile android ios cloud aws azure gcp docker "
    "kubernetes terraform ansible helm pipeline workflow agent prompt model embedding vector "
    "search document markdown readme api graphql grpc websocket auth oauth session cookie "
    "payment invoice email notification upload image video audio translate locale accessibility"
).split()
TEAMS = 50
# Skills whose number ends in these two digits (2 %, all public, half of them with "review")
# get a published version.
PUBLISHED = (4, 26)


def publish(server, token, skill):
    """Version 1.0.0 through the upload steps: prepare, PUT the archive, finalize."""
    path = f"/api/v1/skills/{skill['scope']}/{skill['slug']}/versions"
    data = bundle(skill["slug"], skill["description"], skill["displayName"])
    status, body = call(server, token, "POST", path,
                        {"version": "1.0.0", "archiveSha256": hashlib.sha256(data).hexdigest(), "archiveSize": len(data)})
    if status == 409:
        return
    if status != 201:
        raise SystemExit(f"preparing {skill['slug']}: {status} {body}")
    req = urllib.request.Request(body["uploadUrl"], data=data, method="PUT")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/gzip")
    urllib.request.urlopen(req, timeout=60).read()
    status, body = call(server, token, "POST", f"{path}/1.0.0/finalize", {"status": "published", "versionId": body["versionId"]})
    if status not in (200, 201):
        raise SystemExit(f"finalizing {skill['slug']}: {status} {body}")




def description(rng, i):
    words = rng.sample(WORDS, 11)
    if i % 4 == 0:
        words.append("review")
    elif i % 10_000 == 7:
        words.append("zeppelin")
    else:
        words.append(rng.choice(WORDS))
    rng.shuffle(words)
    return " ".join(words).capitalize()


def main():
    server, token, count = sys.argv[1].rstrip("/"), sys.argv[2], int(sys.argv[3])
    for t in range(TEAMS):
        status, body = call(server, token, "POST", "/api/v1/teams", {"slug": f"team{t}", "displayName": f"Team {t}"})
        assert status in (201, 409), body
    status, body = call(server, token, "POST", "/api/v1/users", {"username": "member", "email": "m@example.com"})
    assert status in (201, 409), body
    for t in range(5):
        status, body = call(server, token, "PUT", f"/api/v1/teams/team{t}/members/member", {"role": "reader"})
        assert status == 200, body
    status, body = call(server, token, "POST", "/api/v1/users/member/tokens", {"name": "bench", "scope": "read"})
    assert status == 201, body
    member = body["token"]

    rng = random.Random(42)
    skills = []
    for i in range(count):
        skills.append({
            "scope": f"team{i % TEAMS}",
            "slug": f"skill-{i}",
            "displayName": f"Skill {i}",
            "description": description(rng, i),
            "tags": rng.sample(WORDS, 2),
            "visibility": "private" if i % 5 == 0 else "public",
        })

    def create(skill):
        status, body = call(server, token, "POST", "/api/v1/skills", skill)
        if status not in (201, 409):
            raise SystemExit(f"creating {skill['slug']}: {status} {body}")

    # The skills that get a version first, while the embedding model has little queued.
    chosen = [i % 100 in PUBLISHED for i in range(count)]
    published = [s for s, c in zip(skills, chosen) if c]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, published, chunksize=16))
        list(pool.map(lambda skill: publish(server, token, skill), published, chunksize=16))
    took = time.monotonic() - started
    print(f"published {len(published)} skills with a version in {took:.1f} s ({len(published) / took:.0f} skills/s through the API)")
    rest = [s for s, c in zip(skills, chosen) if not c]
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, rest, chunksize=64))
    took = time.monotonic() - started
    print(f"seeded {len(rest)} more skills in {took:.1f} s ({len(rest) / took:.0f} skills/s through the API)")
    print(member)


if __name__ == "__main__":
    main()
