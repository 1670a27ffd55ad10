#!/usr/bin/env bash
# Runs the parser fuzzers (fuzz/, cargo-fuzz and libFuzzer with AddressSanitizer) for
# SECONDS each (default 60), then prints, per target, the CPU time spent, the inputs tried,
# the corpus size and the crashes found. Not part of the test suite.
#
#   e2e/fuzz.sh [SECONDS] [TARGET...]
#
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the machine's stable
# toolchain take them. Seeds come from skilldex::fuzzing::seeds() (written out by the
# regression test); the corpus grows in fuzz/corpus/. A crashing input is copied to
# fuzz/regressions/<target>/, which `cargo test` replays on every run: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(bundle_archive npm_tarball skill_md oci_manifest trust_policy npm_publish)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

echo "writing the seed corpus"
SKILLDEX_FUZZ_SEEDS_DIR="$PWD/fuzz/corpus" cargo test -q --test it fuzz_regressions >/dev/null
cd fuzz
# Only for the fuzz builds (their own target directory): set for the main crate's builds it
# would change their fingerprints and rebuild everything.
export RUSTC_BOOTSTRAP=1
echo "building the fuzz targets (release, AddressSanitizer)"
cargo fuzz build -O

report=()
total_cpu=0
crashes=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t" "../fuzz/regressions/$t"
    before=$(ls "artifacts/$t" | wc -l)
    log="artifacts/$t.log"
    TIMEFORMAT="%U %S"
    set +e
    { time cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; } 2>"artifacts/$t.time"
    status=$?
    set -e
    read -r user sys <"artifacts/$t.time"
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.1f", u + s }')
    total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN { printf "%.1f", a + b }')
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -n1 || true)
    found=$(( $(ls "artifacts/$t" | wc -l) - before ))
    if ((status != 0)) && ((found == 0)); then
        echo "$t: the fuzzer stopped with status $status without a crash file; see fuzz/$log" >&2
        tail -n 20 "$log" >&2
        exit 1
    fi
    for f in "artifacts/$t"/*; do
        [ -e "$f" ] && cp -n "$f" "../fuzz/regressions/$t/"
    done
    crashes=$((crashes + found))
    report+=("$(printf '%-16s %8s CPU-s %12s inputs %6s in corpus %3s crashes' "$t" "$cpu" "${runs:-?}" "$(ls "corpus/$t" | wc -l)" "$found")")
done
printf '%s\n' "${report[@]}"
echo "total: $(awk -v c="$total_cpu" 'BEGIN { printf "%.1f", c / 60 }') CPU-minutes, $crashes crashes"
((crashes == 0))
