#!/usr/bin/env bash
# The feed-ingestion figures of BENCHMARKS.md: the real arXiv RSS captures ingested BM25-only
# into a fresh index, then (with MiniLM) into an index holding vectors, then all five captures
# re-ingested forward and backward to check that nothing is duplicated.
# Usage: scripts/bench/feed-ingest.sh [WORK_DIR]   (default: a new temporary directory)
# Env: BIN (default target/release/academichub), DATASETS (default ../shared/datasets).
# Needs jq. Prints one line per ingest: items, new, updated, unchanged, embedded, in-process ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-target/release/academichub}
feeds=${DATASETS:-../shared/datasets}/feeds/arxiv-rss
work=${1:-$(mktemp -d)}
mkdir -p "$work"
summary() {
  jq -r '.sources[] | "\(.source): \(.new + .updated + .unchanged + .skipped) items, \(.new) new, \(.updated) updated, \(.unchanged) unchanged, \(.embedded) embedded, \(.duration_ms) ms"'
}
ingest() { # INDEX CAPTURE [FLAGS]
  local index=$1 capture=$2
  shift 2
  printf '%-18s ' "$capture"
  "$bin" ingest --file "$feeds/$capture.xml" --kind arxiv-rss --index "$index" --json "$@" 2>/dev/null | summary
}
echo "== BM25 only, fresh index ($work/bm25)"
for f in cs.CL-2026-06-16 cs.CL-2026-06-17 cs.LG-2026-06-16 cs.CV-2026-06-23; do
  ingest "$work/bm25" "$f"
done
echo "== MiniLM: the 250-paper capture embedded, then two listings ($work/emb)"
"$bin" import --format arxiv-jsonl tests/fixtures/arxiv-mini.jsonl.gz --index "$work/emb" --json >/dev/null
"$bin" embed --index "$work/emb" --json | jq -r '"embed: \(.embedded) papers"'
for f in cs.CL-2026-06-16 cs.CL-2026-06-17; do
  ingest "$work/emb" "$f"
done
echo "== duplicates: all five captures twice forward, twice backward ($work/dup)"
all=(cs.CL-2026-06-16 cs.CL-2026-06-17 cs.CL-2026-06-20 cs.LG-2026-06-16 cs.CV-2026-06-23)
for pass in 1 2; do
  for f in "${all[@]}"; do ingest "$work/dup" "$f" >/dev/null; done
done
for pass in 1 2; do
  for ((i = ${#all[@]} - 1; i >= 0; i--)); do ingest "$work/dup" "${all[$i]}" >/dev/null; done
done
"$bin" stats --index "$work/dup" --json | jq -r '"papers after four passes: \(.papers)"'
