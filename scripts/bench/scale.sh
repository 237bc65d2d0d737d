#!/usr/bin/env bash
# Single-node scale benchmark, BM25 part (BENCHMARKS.md, "Scale"): for each size (copies of the
# 118K arXiv corpus, scripts/bench/scale_corpus.py), import into a fresh index and report
# import wall time and peak RSS, index size, and BM25 latency in process (the search bench's
# query set, k=10 with snippets).
#
#   scripts/bench/scale.sh WORK_DIR [COPIES ...]     (default: 1 5 23)
#   BIN=target/release/academichub (built with cargo build --release)
set -euo pipefail
WORK=${1:?usage: $0 WORK_DIR [COPIES ...]}
shift
if (($#)); then COPIES=("$@"); else COPIES=(1 5 23); fi
BIN=${BIN:-target/release/academichub}
mkdir -p "$WORK"
for n in "${COPIES[@]}"; do
  corpus="$WORK/arxiv-x$n.jsonl.gz"
  idx="$WORK/idx-x$n"
  [[ -f $corpus ]] || python3 scripts/bench/scale_corpus.py "$n" "$corpus"
  rm -rf "$idx"
  echo "== ${n}x: import"
  /usr/bin/time -f "import wall %e s, peak RSS %M KB" "$BIN" import --format arxiv-jsonl "$corpus" --index "$idx" --json \
    2> "$WORK/import-x$n.time" | python3 -c 'import json,sys; v=json.load(sys.stdin); print("imported", v.get("imported"), "papers")'
  tail -1 "$WORK/import-x$n.time"
  "$BIN" stats --index "$idx" --json | python3 -c 'import json,sys; v=json.load(sys.stdin); print("papers", v["papers"], "index", round(v["size_bytes"]/2**20,1), "MiB")'
  echo "== ${n}x: BM25 latency (search bench, 3 rounds)"
  ACADEMICHUB_BENCH_INDEX="$idx" BENCH_SKIP_DENSE=1 BENCH_ROUNDS=3 \
    cargo bench --bench search -- --warm-up-time 1 --measurement-time 2 bm25 2>/dev/null | grep -A3 "bm25 latency over" || true
done
