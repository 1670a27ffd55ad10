#!/usr/bin/env bash
# The web catalog under load (not a test). Seeds COUNT skills through the REST API (default
# 10 000; see search_seed.py), then measures at CONNS connections, anonymous, side by side
# in one run: the JSON "list newest" of the API (the floor), the home page, a search
# results page, a skill page (README rendered and sanitized on every request) and a diff.
# Prints requests/s, p50 and p99 (ms), each p99's ratio to the floor's, and the bytes of
# each page and of the stylesheet and script.
# SKILLDEX_BENCH_WORK=DIR keeps the seeded data for the next run.
# Usage: e2e/bench/web.sh [COUNT] [CONNS] [REQUESTS]
COUNT=${1:-10000}
CONNS=${2:-16}
REQS=${3:-4000}
source "$(dirname "$0")/lib.sh"
start_skilldex
seed_catalog "$COUNT"
# A skill page with a real README and two versions to compare.
DIR=$(mktemp -d)
mkdir -p "$DIR/bench-web"
body() {
    printf -- '---\nname: bench-web\ndescription: Reviews pull requests for style, tests and security.\nversion: %s\nlicense: MIT\nallowed-tools: Read Grep Bash\n---\n' "$1"
    printf '# Bench web\n\nA realistic README with **emphasis**, `code`, a [link](https://example.com) and a table.\n\n'
    printf '| step | what |\n|---|---|\n| 1 | read the diff |\n| 2 | run the tests |\n\n'
    for i in $(seq 40); do printf 'Paragraph %s: check naming, error handling and tests; run `cargo test` (%s).\n\n' "$i" "$1"; done
}
"$BIN" team create benchweb >/dev/null 2>&1 || true
for v in 1.0.0 1.1.0; do
    body "$v" >"$DIR/bench-web/SKILL.md"
    "$BIN" publish "$DIR/bench-web" -n benchweb --public >/dev/null 2>&1 || true
done
rm -rf "$DIR"

pct() { awk -v p="$1%" '$1 == p {print $2}'; }
FLOOR_P99=""
measure() {
    local label=$1 path=$2 accept=$3 out
    out=$(run -H "Accept: $accept" "http://$SDX$path")
    local p50 p99 rate bytes
    p50=$(echo "$out" | pct 50); p99=$(echo "$out" | pct 99); rate=$(echo "$out" | rps)
    bytes=$(curl -fsS -H "Accept: $accept" "http://$SDX$path" | wc -c)
    [ -n "$FLOOR_P99" ] || FLOOR_P99=$p99
    printf '%-34s %8s req/s  p50 %4s ms  p99 %4s ms  (%sx the floor)  %7s bytes\n' \
        "$label" "$rate" "$p50" "$p99" "$(awk -v a="$p99" -v b="$FLOOR_P99" 'BEGIN {printf "%.1f", (b > 0 ? a / b : 0)}')" "$bytes"
}
echo "catalog: $(curl -fsS "http://$SDX/api/v1/skills?limit=1" >/dev/null && echo "$COUNT skills seeded"), $CONNS connections, $REQS requests each"
measure "API list newest (floor)" "/api/v1/skills?sort=updated&limit=20" "application/json"
measure "home page" "/" "text/html"
measure "search page (review)" "/search?q=review" "text/html"
measure "skill page" "/skills/benchweb/bench-web" "text/html"
measure "diff page" "/skills/benchweb/bench-web/diff?from=1.0.0&to=1.1.0" "text/html"
home=$(curl -fsS "http://$SDX/")
css=$(echo "$home" | grep -o '/assets/app\.[0-9a-f]*\.css' | head -1)
js=$(echo "$home" | grep -o '/assets/app\.[0-9a-f]*\.js' | head -1)
echo "assets: $(curl -fsS "http://$SDX$css" | wc -c) bytes of CSS, $(curl -fsS "http://$SDX$js" | wc -c) bytes of JavaScript (cached for a year)"
echo "server: $(awk '/^VmRSS:/ {printf "%.1f MiB resident", $2 / 1024}' "/proc/$(cat "$WORK/sdx.pid")/status")"
