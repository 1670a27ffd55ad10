#!/usr/bin/env bash
# Search under load (not a test). Seeds COUNT skills through the REST API (default 100 000,
# 20 % private, 12-word descriptions; see search_seed.py), then measures at CONNS connections,
# as a signed-in member of five teams, side by side in one run:
#   - "list newest" (the floor every search is compared with),
#   - a common word (in about a quarter of the catalog), a rare word, two words, a prefix,
#     through GET /api/v1/skills?q=…, ToolHive's ?search= and npm's /-/v1/search;
#   - the same full-text query straight on the SQLite file (FTS5, no HTTP, no visibility).
# Prints requests/s, p50 and p99 (ms) for each, the ratio of each p99 to the floor's, and the
# server's resident memory after the load.
# Usage: e2e/bench/search.sh [COUNT] [CONNS] [REQUESTS]
COUNT=${1:-100000}
CONNS=${2:-16}
REQS=${3:-4000}
source "$(dirname "$0")/lib.sh"
start_skilldex
SEED_OUT=$(python3 e2e/bench/search_seed.py "http://$SDX" "$TOKEN" "$COUNT")
echo "$SEED_OUT" | head -n -1
MEMBER=$(echo "$SEED_OUT" | tail -n 1)

# ab's percentile table: "  50%     12" … "  99%     40".
pct() { awk -v p="$1%" '$1 == p {print $2}'; }
declare -A P99
measure() {
    local label=$1 path=$2 out
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

echo "== ratio of each p99 to the floor's (target: at most 2)"
floor=${P99["list newest (floor)"]}
for label in "REST q=review (common)" "REST q=zeppelin (rare)" "REST q=cache+index (two words)" "REST q=revi (prefix)" \
    "ToolHive search=review" "npm text=review"; do
    awk -v a="${P99[$label]}" -v b="$floor" -v l="$label" 'BEGIN { printf "%-34s %6.1f\n", l, (b > 0 ? a / b : a) }'
done

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
# The pid file holds the shell that started the server; the server is its child.
server=$(pgrep -P "$(cat "$WORK/sdx.pid")" -x skilldex || cat "$WORK/sdx.pid")
echo "== server resident memory after the load: $(awk '/^VmRSS:/ {printf "%.1f MiB", $2 / 1024}' "/proc/$server/status")"
