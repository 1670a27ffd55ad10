#!/usr/bin/env bash
# Search under load (not a test). Seeds COUNT skills through the REST API (default 100 000,
# 20 % private, 12-word descriptions, 2 % with a published version; see search_seed.py),
# then measures at CONNS connections, as a signed-in member of five teams, side by side in
# one run:
#   - "list newest" (the floor every search is compared with),
#   - a common word (in about a quarter of the catalog), a rare word, two words, a prefix,
#     through GET /api/v1/skills?q=…, ToolHive's ?search= and npm's /-/v1/search;
#   - the same full-text query straight on the SQLite file (FTS5, no HTTP, no visibility).
#   - hybrid and semantic search (the server runs with the embedding model; vectors are
#     computed while seeding and waited for), and hybrid with a new query every time.
# Prints requests/s, p50 and p99 (ms) for each, the ratio of each p99 to the floor's, the
# seeding and vector throughput, and the server's resident memory after the load.
# SKILLDEX_BENCH_WORK=DIR keeps the seeded data for the next run.
# Usage: e2e/bench/search.sh [COUNT] [CONNS] [REQUESTS]
COUNT=${1:-100000}
CONNS=${2:-16}
REQS=${3:-4000}
source "$(dirname "$0")/lib.sh"
embedding_model
start_skilldex --embedding-model "$MODEL"
seed_catalog "$COUNT"
# Vectors are computed in the background while seeding goes on; wait for the rest.
python3 - "http://$SDX" "$TOKEN" "$COUNT" <<'PY'
import json, sys, time, urllib.request
def embedder():
    # Vector counts are shown to site administrators only.
    req = urllib.request.Request(sys.argv[1] + "/healthz", headers={"Authorization": f"Bearer {sys.argv[2]}"})
    return json.load(urllib.request.urlopen(req))["deps"]["embedder"]
start, first = time.time(), embedder()
# Nothing pending is not enough: a skill is queued when the search index takes it up, up
# to half a second after it was answered.
while (e := embedder())["pending"] > 0 or e["vectors"] < int(sys.argv[3]):
    if time.time() - start > 3600:
        sys.exit(f"vectors: still {e['vectors']} of {sys.argv[3]} after an hour ({e})")
    time.sleep(1)
spent = time.time() - start
done = e["vectors"] - first["vectors"]
rate = f", {done / spent:.0f} vectors/s after seeding" if spent > 1 and done else ""
print(f"vectors: {e['vectors']} skills ({first['pending']} were still pending when seeding ended{rate})")
PY

# Measured on a server started on the seeded catalog, as after a deploy (it loads the index
# and the saved vectors), not on the one that did the seeding.
stop_skilldex
start_skilldex --embedding-model "$MODEL"
echo "restarted on the seeded catalog: $(awk '/^VmRSS:/ {printf "%.1f MiB resident", $2 / 1024}' "/proc/$(cat "$WORK/sdx.pid")/status")"

# Start-up work (an index rebuild's segment merges, saving vectors, compacting the index
# once it has been quiet for 5 s) is over before measuring: wait until the server has used no
# CPU for eight seconds (at most four minutes).
cpu() { awk '{print $14 + $15}' "/proc/$(cat "$WORK/sdx.pid")/stat"; }
for _ in $(seq 30); do a=$(cpu); sleep 8; [ "$(cpu)" -gt "$a" ] || break; done

# ab's percentile table: "  50%     12" … "  99%     40".
pct() { awk -v p="$1%" '$1 == p {print $2}'; }
declare -A P99
measure() {
    local label=$1 path=$2 out
    # A short warm-up first (caches, the query's embedding), not measured.
    ab -q -k -n $((CONNS * 25)) -c "$CONNS" -H "Authorization: Bearer $MEMBER" "http://$SDX$path" >/dev/null 2>&1
    out=$(run -H "Authorization: Bearer $MEMBER" "http://$SDX$path")
    local failed; failed=$(awk '/^Non-2xx responses/ {print $3}' <<<"$out")
    P99[$label]=$(pct 99 <<<"$out")
    printf '%-34s %9s req/s  p50 %4s ms  p99 %4s ms%s\n' "$label" "$(rps <<<"$out")" "$(pct 50 <<<"$out")" \
        "${P99[$label]}" "${failed:+  ($failed non-2xx!)}"
}

echo "== $COUNT skills, $CONNS connections, $REQS requests each, as a member of 5 of 50 teams"
measure "list newest (floor)" "/api/v1/skills?sort=updated&limit=20"
measure "REST q=review (common)" "/api/v1/skills?q=review&limit=20"
measure "REST q=zeppelin (rare)" "/api/v1/skills?q=zeppelin&limit=20"
measure "REST q=cache+index (two words)" "/api/v1/skills?q=cache%20index&limit=20"
measure "REST q=revi (prefix)" "/api/v1/skills?q=revi&limit=20"
measure "ToolHive search=review" "/registry/default/v0.1/x/dev.toolhive/skills?search=review&limit=20"
measure "npm text=review" "/-/v1/search?text=review&size=20"
measure "REST hybrid 'check my code'" "/api/v1/skills?q=check%20my%20code&mode=hybrid&limit=20"
measure "REST semantic 'check my code'" "/api/v1/skills?q=check%20my%20code&mode=semantic&limit=20"

echo "== ratio of each p99 to the floor's (target: at most 2)"
floor=${P99["list newest (floor)"]}
for label in "REST q=review (common)" "REST q=zeppelin (rare)" "REST q=cache+index (two words)" "REST q=revi (prefix)" \
    "ToolHive search=review" "npm text=review" "REST hybrid 'check my code'" "REST semantic 'check my code'"; do
    awk -v a="${P99[$label]}" -v b="$floor" -v l="$label" 'BEGIN { printf "%-34s %6.1f\n", l, (b > 0 ? a / b : a) }'
done

echo "== hybrid search with a new query each time (the query's embedding computed, not remembered), one connection"
python3 - "http://$SDX" "$MEMBER" <<'PY'
import sys, time, urllib.parse, urllib.request
words = "review test deploy cache secure index migrate document lint format profile monitor".split()
runs = []
for i in range(200):
    q = f"{words[i % 12]} {words[(i * 7 + 3) % 12]} helper {i}"
    req = urllib.request.Request(f"{sys.argv[1]}/api/v1/skills?mode=hybrid&limit=20&q={urllib.parse.quote(q)}",
                                 headers={"Authorization": f"Bearer {sys.argv[2]}"})
    t = time.perf_counter()
    urllib.request.urlopen(req).read()
    runs.append((time.perf_counter() - t) * 1000)
runs.sort()
print(f"{'REST hybrid, 200 distinct queries':34} p50 {runs[100]:6.1f} ms  p99 {runs[197]:6.1f} ms")
PY

echo "== the same full-text query straight on the SQLite file (FTS5 MATCH, bm25, top 20)"
python3 - "$WORK/skilldex-data/skilldex.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
for label, match in [("review", '"review"*'), ("zeppelin", '"zeppelin"*'), ("cache index", '"cache"* "index"*'), ("revi", '"revi"*')]:
    runs = []
    for _ in range(20):
        t = time.perf_counter()
        db.execute("SELECT rowid FROM skills_fts WHERE skills_fts MATCH ? ORDER BY bm25(skills_fts, 10.0, 8.0, 5.0, 3.0, 1.0) LIMIT 20", (match,)).fetchall()
        runs.append((time.perf_counter() - t) * 1000)
    runs.sort()
    print(f"{'FTS5 ' + label:34} p50 {runs[10]:6.1f} ms  max {runs[-1]:6.1f} ms  (one connection)")
PY
server=$(cat "$WORK/sdx.pid")
rss() { awk '/^VmRSS:/ {printf "%.1f MiB", $2 / 1024} /^RssAnon:/ {printf " (%.1f MiB anonymous,", $2 / 1024} /^RssFile:/ {printf " %.1f MiB mapped files)", $2 / 1024}' "/proc/$server/status"; }
echo "== server resident memory after the load: $(rss)"
sleep 15
echo "== and 15 s later (the allocator hands back what the load freed): $(rss)"

