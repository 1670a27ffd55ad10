#!/usr/bin/env bash
# Search quality (not a test): starts a release skilldex on its embedded defaults, seeds the
# 300 skills of e2e/search/catalog.tsv through the REST API and prints nDCG@10 and recall@10
# over the 44 judged queries of e2e/search/queries.tsv, per query kind (name, description
# words, several words, prefix, typo, synonym) and in all.
# The server runs with the embedding model, so semantic and hybrid are measured too.
# Usage: e2e/bench/search_quality.sh [MODE ...]   (default: keyword semantic hybrid)
source "$(dirname "$0")/lib.sh"
embedding_model
start_skilldex --embedding-model "$MODEL"
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(keyword semantic hybrid)
python3 e2e/bench/search_quality.py "http://$SDX" "$TOKEN" "${modes[@]}"
