#!/usr/bin/env bash
# Benchmark (not a test): the embedded OCI store against CNCF distribution on this machine,
# in one run, under the same ApacheBench load: blob GET throughput (1 MiB and 64 KiB blobs)
# and manifest GET rate. Prints both and the ratios (target: >= 1.0x distribution).
# Usage: e2e/bench/oci.sh [requests] [concurrency]
REQS=${1:-4000}
CONNS=${2:-16}
source "$(dirname "$0")/lib.sh"
start_registry
start_skilldex
"$BIN" team create bench >/dev/null
# A public skill, so pulls are anonymous on both sides.
"$BIN" skill create bench/blobs >/dev/null

head -c 1048576 /dev/urandom >"$WORK/big"; head -c 65536 /dev/urandom >"$WORK/small"
push_blob() { # host auth file -> digest (POST, then PUT with the digest: both registries take it)
    local d="sha256:$(sha256sum "$3" | cut -d' ' -f1)"
    local loc
    loc=$(curl -fsS -o /dev/null -D - $2 -X POST "http://$1/v2/bench/blobs/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    case "$loc" in http*) ;; *) loc="http://$1$loc" ;; esac
    case "$loc" in *\?*) sep='&' ;; *) sep='?' ;; esac
    curl -fsS -o /dev/null $2 -X PUT -H "Content-Type: application/octet-stream" --data-binary @"$3" "$loc${sep}digest=$d"
    echo "$d"
}
for host in "$REG" "$SDX"; do
    auth=""; [ "$host" = "$SDX" ] && auth="-u admin:$TOKEN"
    BIG=$(push_blob "$host" "$auth" "$WORK/big"); SMALL=$(push_blob "$host" "$auth" "$WORK/small")
done
printf '{}' >"$WORK/empty"
for host in "$REG" "$SDX"; do
    auth=""; [ "$host" = "$SDX" ] && auth="-u admin:$TOKEN"
    E=$(push_blob "$host" "$auth" "$WORK/empty")
    cat >"$WORK/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"$E","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$SMALL","size":65536}]}
JSON
    curl -fsS -o /dev/null $auth -X PUT -H "Content-Type: application/vnd.oci.image.manifest.v1+json" --data-binary @"$WORK/manifest.json" "http://$host/v2/bench/blobs/manifests/v1"
done

rate() { awk '/^Transfer rate/ {print $3}'; }
declare -A R T
for what in big small manifest; do
    for side in dist sdx; do
        host=$REG; [ $side = sdx ] && host=$SDX
        case $what in
            big) url="http://$host/v2/bench/blobs/blobs/$BIG" ;;
            small) url="http://$host/v2/bench/blobs/blobs/$SMALL" ;;
            manifest) url="http://$host/v2/bench/blobs/manifests/v1" ;;
        esac
        out=$(run -H "Accept: application/vnd.oci.image.manifest.v1+json" "$url")
        if echo "$out" | grep -q "^Non-2xx"; then echo "$side $what: non-2xx answers"; echo "$out" | tail -5; exit 1; fi
        R[$side-$what]=$(echo "$out" | rps); T[$side-$what]=$(echo "$out" | rate)
    done
done
for what in big small manifest; do
    awk -v w="$what" -v d="${R[dist-$what]}" -v s="${R[sdx-$what]}" -v dt="${T[dist-$what]}" -v st="${T[sdx-$what]}" 'BEGIN {
        name = (w == "big") ? "blob GET 1 MiB " : (w == "small") ? "blob GET 64 KiB" : "manifest GET   "
        printf "%s  skilldex %8.0f req/s %9.0f KB/s | distribution %8.0f req/s %9.0f KB/s | ratio %.2fx\n", name, s, st, d, dt, s/d
    }'
done
