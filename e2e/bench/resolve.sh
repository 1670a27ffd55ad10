#!/usr/bin/env bash
# Benchmark (not a test): skilldex's resolve against the only other way a client has to turn
# a tag into a digest, `HEAD /v2/<repo>/manifests/<tag>` on a CNCF distribution registry.
# Both run on this machine, in one run, under the same ApacheBench load; prints both and the ratio.
# Usage: e2e/bench/resolve.sh [requests] [concurrency]
REQS=${1:-50000}
CONNS=${2:-16}
source "$(dirname "$0")/lib.sh"
start_registry
start_skilldex
REG_PORT=${REG#*:}
SDX=http://$SDX
"$BIN" team create acme >/dev/null
mkdir -p "$WORK/demo"
printf -- '---\nname: demo\ndescription: Benchmark skill\nversion: 1.0.0\n---\n# Demo\n' >"$WORK/demo/SKILL.md"
"$BIN" publish "$WORK/demo" --to "127.0.0.1:$REG_PORT/skills/acme/demo" -n acme >/dev/null 2>&1
ACCEPT="Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
p99() { awk '$1=="99%" {print $2}'; }

echo "== skilldex GET /api/v1/resolve/acme/demo?version=^1 (range) =="
OUT_R=$(run "$SDX/api/v1/resolve/acme/demo?version=%5E1"); echo "$OUT_R" | grep -E "^Requests per|^Non-2xx|^Failed|  99%" || true
echo "== skilldex GET /api/v1/resolve/acme/demo (latest channel) =="
OUT_L=$(run "$SDX/api/v1/resolve/acme/demo"); echo "$OUT_L" | grep -E "^Requests per|^Non-2xx|^Failed|  99%" || true
echo "== distribution HEAD /v2/skills/acme/demo/manifests/1.0.0 =="
OUT_H=$(run -i -H "$ACCEPT" "http://127.0.0.1:$REG_PORT/v2/skills/acme/demo/manifests/1.0.0"); echo "$OUT_H" | grep -E "^Requests per|^Non-2xx|^Failed|  99%" || true

R=$(echo "$OUT_R" | rps); L=$(echo "$OUT_L" | rps); H=$(echo "$OUT_H" | rps)
RP=$(echo "$OUT_R" | p99); LP=$(echo "$OUT_L" | p99); HP=$(echo "$OUT_H" | p99)
awk -v r="$R" -v l="$L" -v h="$H" -v rp="$RP" -v lp="$LP" -v hp="$HP" 'BEGIN {
  printf "\nresolve (range):  %9.0f req/s  p99 %7.2f ms   %.2fx the registry HEAD rate\n", r, rp, r/h
  printf "resolve (latest): %9.0f req/s  p99 %7.2f ms   %.2fx the registry HEAD rate\n", l, lp, l/h
  printf "registry HEAD:    %9.0f req/s  p99 %7.2f ms   (target: resolve >= 3x)\n", h, hp
}'
