#!/usr/bin/env bash
# Benchmark (not a test): skilldex's resolve against the only other way a client has to turn
# a tag into a digest, `HEAD /v2/<repo>/manifests/<tag>` on a CNCF distribution registry.
# Both run on this machine, in one run, under the same wrk load; prints both and the ratio.
# The load comes from ApacheBench for both sides (wrk cannot send HEAD requests).
# Usage: e2e/bench/resolve.sh [requests] [concurrency]
set -euo pipefail
cd "$(dirname "$0")/../.."
REQS=${1:-50000}
CONNS=${2:-16}
for bin in ab docker-registry; do
    command -v "$bin" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2-utils docker-registry >/dev/null; }
done
cargo build --release --quiet
BIN=target/release/skilldex
WORK=$(mktemp -d)
cleanup() { kill "$(cat "$WORK/reg.pid" 2>/dev/null)" "$(cat "$WORK/sdx.pid" 2>/dev/null)" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REG_PORT=$(free_port)
mkdir -p "$WORK/reg"
cat > "$WORK/reg/config.yml" <<YAML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $WORK/reg/data } }
http: { addr: 127.0.0.1:$REG_PORT, secret: bench }
YAML
docker-registry serve "$WORK/reg/config.yml" >"$WORK/reg.log" 2>&1 & echo $! >"$WORK/reg.pid"
(cd "$WORK" && RUST_LOG=warn "$OLDPWD/$BIN" serve --listen 127.0.0.1:0 >"$WORK/sdx.out" 2>"$WORK/sdx.log" & echo $! >"$WORK/sdx.pid")
for _ in $(seq 200); do grep -q listening "$WORK/sdx.out" 2>/dev/null && break; sleep 0.05; done
SDX=$(sed -n 's/^skilldex listening on //p' "$WORK/sdx.out")
# ab wants an explicit path and no trailing slash games; keep the URL as printed.
export SKILLDEX_SERVER=$SDX SKILLDEX_TOKEN=$(cat "$WORK/skilldex-data/admin-token")
"$BIN" team create acme >/dev/null
mkdir -p "$WORK/demo"
printf -- '---\nname: demo\ndescription: Benchmark skill\nversion: 1.0.0\n---\n# Demo\n' >"$WORK/demo/SKILL.md"
"$BIN" publish "$WORK/demo" --to "127.0.0.1:$REG_PORT/skills/acme/demo" -n acme >/dev/null 2>&1
ACCEPT="Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json"
run() { ab -q -k -n "$REQS" -c "$CONNS" "$@" 2>&1; }
rps() { awk '/^Requests per second/ {print $4}'; }
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
