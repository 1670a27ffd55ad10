#!/usr/bin/env bash
# Benchmark (not a test): a dozen anonymous 50 MB uploads at once — six npm publishes and six
# monolithic /v2/ blob uploads — and the server's resident memory before and at its peak
# (VmHWM). Bodies of callers who may not write are refused before they are read, so the peak
# should stay near the idle size. With BEFORE=/path/to/an/older/skilldex the same load runs
# against that binary first and the ratio is printed.
# Usage: [BEFORE=old-binary] e2e/bench/anonymous_uploads.sh [parallel] [megabytes]
PARALLEL=${1:-12}
MB=${2:-50}
source "$(dirname "$0")/lib.sh"
head -c $((MB * 1024 * 1024)) /dev/zero | tr '\0' 'x' >"$WORK/body"
DIGEST="sha256:$(sha256sum "$WORK/body" | cut -d' ' -f1)"

kib() { awk -v k="$1" '$1 == k":" {print $2}' "/proc/$2/status"; }

# Runs the load against binary $1; prints "idle_kib peak_kib statuses".
measure() {
    local bin=$1 dir="$WORK/run-$RANDOM"
    mkdir -p "$dir"
    RUST_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$dir/skilldex-data" >"$dir/out" 2>"$dir/log" &
    echo $! >"$dir/pid"
    for _ in $(seq 200); do grep -q listening "$dir/out" 2>/dev/null && break; sleep 0.05; done
    local host pid
    host=$(sed -n 's/^skilldex listening on http:\/\///p' "$dir/out"); pid=$(cat "$dir/pid")
    SKILLDEX_SERVER="http://$host" SKILLDEX_TOKEN=$(cat "$dir/skilldex-data/admin-token") "$bin" team create bench >/dev/null
    SKILLDEX_SERVER="http://$host" SKILLDEX_TOKEN=$(cat "$dir/skilldex-data/admin-token") "$bin" skill create bench/demo >/dev/null
    sleep 0.5
    local idle; idle=$(kib VmRSS "$pid")
    local uploads=()
    for i in $(seq "$PARALLEL"); do
        if ((i % 2)); then
            curl -s -o /dev/null -w '%{http_code}\n' -X PUT -H 'Content-Type: application/json' \
                --data-binary @"$WORK/body" "http://$host/@bench%2fdemo" >>"$dir/codes" &
            uploads+=($!)
        else
            curl -s -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/octet-stream' \
                --data-binary @"$WORK/body" "http://$host/v2/bench/demo/blobs/uploads/?digest=$DIGEST" >>"$dir/codes" &
            uploads+=($!)
        fi
    done
    wait "${uploads[@]}"
    local peak; peak=$(kib VmHWM "$pid")
    kill "$pid"
    echo "$idle $peak $(sort "$dir/codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')"
}

report() { # label idle peak codes…
    local label=$1 idle=$2 peak=$3; shift 3
    printf '%-8s idle RSS %7.1f MiB   peak RSS %7.1f MiB   answers: %s\n' "$label" "$(echo "$idle/1024" | bc -l)" "$(echo "$peak/1024" | bc -l)" "$*"
}

echo "$PARALLEL anonymous uploads of $MB MiB at once"
if [ -n "${BEFORE:-}" ]; then
    read -r b_idle b_peak b_codes <<<"$(measure "$BEFORE")"
    report before "$b_idle" "$b_peak" "$b_codes"
fi
read -r a_idle a_peak a_codes <<<"$(measure "$BIN")"
report after "$a_idle" "$a_peak" "$a_codes"
if [ -n "${BEFORE:-}" ]; then
    printf 'peak RSS after/before: %.3f\n' "$(echo "$a_peak/$b_peak" | bc -l)"
fi
