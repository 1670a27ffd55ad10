#!/usr/bin/env python3
"""Search quality over the judged query set (not a test): seeds e2e/search/catalog.tsv into a
running skilldex through the REST API, runs every query in e2e/search/queries.tsv, and prints
nDCG@10 and recall@10 per query kind and overall, for each ranking mode the server offers.

Usage: search_quality.py SERVER_URL ADMIN_TOKEN [MODE ...]
MODE is `keyword` (the default), `semantic`, `hybrid`, or any ranking mode the server takes as `mode=` on
`GET /api/v1/skills`.
"""

import math
import sys
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

from skilldex_api import call

HERE = Path(__file__).resolve().parent.parent / "search"
K = 10




def rows(name):
    for line in (HERE / name).read_text().splitlines():
        if line and not line.startswith("#"):
            yield line.split("\t")


def seed(server, token):
    """Creates the catalog's skills; how many."""
    teams, seeded = set(), 0
    for ident, display, description, tags in rows("catalog.tsv"):
        namespace, name = ident.split("/")
        if namespace not in teams:
            status, body = call(server, token, "POST", "/api/v1/teams", {"slug": namespace, "displayName": namespace})
            if status not in (201, 409):
                sys.exit(f"creating team {namespace}: {status} {body}")
            teams.add(namespace)
        readme = f"# {display}\n\n{description}.\n\nUse this skill when the task is about {tags.replace(',', ', ')}.\n"
        skill = {
            "scope": namespace,
            "slug": name,
            "displayName": display,
            "description": description,
            "readme": readme,
            "tags": tags.split(","),
            "visibility": "public",
        }
        status, body = call(server, token, "POST", "/api/v1/skills", skill)
        if status not in (201, 409):
            sys.exit(f"creating {ident}: {status} {body}")
        seeded += 1
    return seeded


def ndcg(ranked, relevant):
    gains = {r: (2 if i == 0 else 1) for i, r in enumerate(relevant)}
    dcg = sum(gains.get(r, 0) / math.log2(i + 2) for i, r in enumerate(ranked[:K]))
    ideal = sorted(gains.values(), reverse=True)[:K]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall(ranked, relevant):
    return len(set(ranked[:K]) & set(relevant)) / len(relevant)


def run(server, token, mode):
    by_kind = defaultdict(list)
    misses = []
    for kind, query, relevant in rows("queries.tsv"):
        relevant = relevant.split()
        params = {"q": query, "limit": K, "sort": "relevance"}
        if mode != "keyword":
            params["mode"] = mode
        status, body = call(server, token, "GET", "/api/v1/skills?" + urllib.parse.urlencode(params))
        if status != 200:
            return None, f"{mode}: {status} {body.get('detail') if isinstance(body, dict) else body}"
        ranked = [f"{s['scope']}/{s['slug']}" for s in body["data"]]
        by_kind[kind].append((ndcg(ranked, relevant), recall(ranked, relevant)))
        if relevant[0] not in ranked[:3]:
            misses.append(f"  {kind:8} {query!r}: wanted {relevant[0]}, got {ranked[:3]}")
    return by_kind, misses


def vectors_ready(server, token, count):
    """Waits until the server's embedding model has a vector for each of `count` skills (if
    it has a model). Nothing pending is not enough: the server queues a skill for its vector
    when its search index takes the change up, up to half a second after it was answered."""
    deadline = time.time() + 600
    while True:
        status, body = call(server, token, "GET", "/healthz")
        embedder = body["deps"]["embedder"]
        if embedder["status"] != "up" or (embedder["pending"] == 0 and embedder["vectors"] >= count):
            return
        if time.time() > deadline:
            sys.exit(f"vectors: {embedder['vectors']} of {count} after 10 minutes ({embedder})")
        time.sleep(0.5)


def main():
    server, token = sys.argv[1].rstrip("/"), sys.argv[2]
    modes = sys.argv[3:] or ["keyword"]
    vectors_ready(server, token, seed(server, token))
    print(f"{'mode':8} {'kind':8} {'queries':>7} {'nDCG@10':>8} {'recall@10':>9}")
    for mode in modes:
        by_kind, misses = run(server, token, mode)
        if by_kind is None:
            print(f"{mode:8} not offered by this server ({misses})")
            continue
        everything = [x for v in by_kind.values() for x in v]
        for kind in ("name", "words", "multi", "prefix", "typo", "synonym"):
            scores = by_kind.get(kind, [])
            if scores:
                n = sum(s[0] for s in scores) / len(scores)
                r = sum(s[1] for s in scores) / len(scores)
                print(f"{mode:8} {kind:8} {len(scores):7} {n:8.3f} {r:9.3f}")
        n = sum(s[0] for s in everything) / len(everything)
        r = sum(s[1] for s in everything) / len(everything)
        print(f"{mode:8} {'all':8} {len(everything):7} {n:8.3f} {r:9.3f}")
        if misses:
            print(f"{mode}: best answer not in the top 3 for {len(misses)} queries:")
            print("\n".join(misses))


if __name__ == "__main__":
    main()
