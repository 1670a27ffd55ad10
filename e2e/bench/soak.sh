#!/usr/bin/env bash
# Benchmark (not a test): load held. A mixed workload (45 % resolves, 30 % searches, 22 %
# installs = resolve + archive download, 3 % publishes through the upload path) from several
# processes against one `skilldex serve` on PostgreSQL, for a while; prints throughput, p50
# and p99 per operation, errors, and the server's RSS and open file descriptors at start and
# end with their trend over the second half.
# Usage: e2e/bench/soak.sh [seconds=600] [processes=4]
SECONDS_TOTAL=${1:-600}
PROCS=${2:-4}
source "$(dirname "$0")/lib.sh"
PG_ADMIN=${SKILLDEX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DB="skilldex_soak_$$"
psql "$PG_ADMIN" -qAtc "CREATE DATABASE $DB" >/dev/null
drop_db() { psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true; }
trap 'cleanup; drop_db' EXIT
start_skilldex --database-url "${PG_ADMIN%/*}/$DB"
"$BIN" team create acme >/dev/null
python3 e2e/bench/soak.py "http://$SDX" "$TOKEN" "$(cat "$WORK/sdx.pid")" "$SECONDS_TOTAL" "$PROCS"
