#!/usr/bin/env bash
# Sources under load (not a test). Pushes COUNT versions of one skill to a local CNCF
# distribution registry (one tag each, its own content each), then, in one run:
#   - the floor: the same COUNT versions registered one by one through the REST API
#     (POST /api/v1/skills/{ns}/{name}/versions with each tag's reference), sequentially;
#   - a source indexing the repository (skilldex source sync): time and tags/s, and the ratio
#     to the floor;
#   - the same source again, every tag unchanged;
#   - a mirror source: time, and the bytes it copied against the bytes the registry holds.
# Usage: e2e/bench/sources.sh [COUNT]
COUNT=${1:-1000}
source "$(dirname "$0")/lib.sh"
start_registry
start_skilldex --allow-registry '127.0.0.1:*'
for team in floor indexed mirrored; do "$BIN" team create "$team" >/dev/null; done
pushed=$(python3 e2e/bench/push_tags.py "$REG" bench/skills/bench-tags bench-tags "$COUNT")
echo "registry: $COUNT tags of bench/skills/bench-tags, $pushed bytes pushed"
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }

# The floor: one registration per version, as a CI job would send them.
"$BIN" skill create floor/bench-tags >/dev/null
t0=$(now)
for i in $(seq 0 $((COUNT - 1))); do
    curl -fsS -o /dev/null -X POST "http://$SDX/api/v1/skills/floor/bench-tags/versions" \
        -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
        -d "{\"version\":\"1.0.$i\",\"reference\":\"$REG/bench/skills/bench-tags:1.0.$i\"}"
done
t1=$(now)
FLOOR=$(secs "$t0" "$t1")
printf '%-44s %8s s  %7.1f tags/s\n' "floor: $COUNT registrations one by one" "$FLOOR" "$(awk -v n="$COUNT" -v s="$FLOOR" 'BEGIN {print n / s}')"

# A new source's first run is due at once: the scheduler's run is what is timed, through the
# source's own status, once it has ended.
first_run() {
    sleep 0.5
    for _ in $(seq 600); do
        running=$(curl -fsS "http://$SDX/api/v1/sources/$1" -H "Authorization: Bearer $TOKEN" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["running"] or s["status"]["lastRunAt"] is None)')
        [ "$running" = "False" ] && break
        sleep 0.5
    done
    curl -fsS "http://$SDX/api/v1/sources/$1" -H "Authorization: Bearer $TOKEN"
}
"$BIN" source add indexed --oci "$REG/bench/skills/*" -n indexed --every 0 >/dev/null
status=$(first_run indexed)
read -r MS REGISTERED FAILED <<<"$(echo "$status" | python3 -c 'import json,sys; r=json.load(sys.stdin)["status"]["lastRun"]; print(r["durationMs"], r["registered"], r["failed"])')"
FIRST=$(awk -v ms="$MS" 'BEGIN {printf "%.2f", ms / 1000}')
printf '%-44s %8s s  %7.1f tags/s  (%sx the floor; %s registered, %s failed)\n' "source: first run" "$FIRST" \
    "$(awk -v n="$COUNT" -v s="$FIRST" 'BEGIN {print n / s}')" "$(awk -v a="$FIRST" -v b="$FLOOR" 'BEGIN {printf "%.2f", a / b}')" "$REGISTERED" "$FAILED"
t0=$(now); "$BIN" source sync indexed >/dev/null; t1=$(now)
printf '%-44s %8s s  (every tag unchanged)\n' "source: run again" "$(secs "$t0" "$t1")"

"$BIN" source add mirrored --oci "$REG/bench/skills/*" -n mirrored --every 0 --mirror >/dev/null
read -r MS BYTES REGISTERED <<<"$(first_run mirrored | python3 -c 'import json,sys; r=json.load(sys.stdin)["status"]["lastRun"]; print(r["durationMs"], r["mirroredBytes"], r["registered"])')"
MIRROR=$(awk -v ms="$MS" 'BEGIN {printf "%.2f", ms / 1000}')
printf '%-44s %8s s  %7.1f tags/s  %s bytes copied (%s registered; the registry was sent %s bytes)\n' "mirror source: first run" "$MIRROR" \
    "$(awk -v n="$COUNT" -v s="$MIRROR" 'BEGIN {print n / s}')" "$BYTES" "$REGISTERED" "$pushed"
echo "server: $(awk '/^VmRSS:/ {printf "%.1f MiB resident", $2 / 1024}' "/proc/$(cat "$WORK/sdx.pid")/status")"
