#!/usr/bin/env bash
# Single-node scale benchmark, dense and hybrid part (BENCHMARKS.md, "Scale on one node"): for
# each size, an index of COPIES x the source papers with a vector on every paper
# (examples/scale_vectors.rs: copy 0 real, the others real text with synthetic vectors), then
#   1. in process: the search bench with the source's model (dense/hybrid p50/p99 including query
#      embedding, and the dense leg alone against a scan of every vector: speed-up, recall@10
#      against the exact top 10 by the stored f32 vectors);
#   2. over HTTP: `serve --no-background-embed` with the response cache off, wrk with one
#      connection and fresh queries (every query embedded), once the server has decoded the vectors
#      and built the inverted lists of large segments, after a 10 s warm-up, for hybrid, then
#      dense, then the server's VmRSS / VmHWM and RssAnon / RssFile (its own memory / the pages
#      of the index files it has read, which the kernel can reclaim).
#
#   scripts/bench/scale-dense.sh WORK_DIR SOURCE_INDEX [COPIES ...]     (default: 1 5 23)
#   SOURCE_INDEX: every paper with a vector (e.g. the 118K import after `serve` embedded it);
#   a partly embedded source works too (its papers without one get a vector between two real ones).
#   BIN=target/release/academichub; BENCH_MODEL (default me5-small) must be the source's model.
set -euo pipefail
WORK=${1:?usage: $0 WORK_DIR SOURCE_INDEX [COPIES ...]}
SRC=${2:?usage: $0 WORK_DIR SOURCE_INDEX [COPIES ...]}
shift 2
if (($#)); then COPIES=("$@"); else COPIES=(1 5 23); fi
BIN=${BIN:-target/release/academichub}
MODEL=${BENCH_MODEL:-me5-small}
PORT=${PORT:-18931}
mkdir -p "$WORK"
cargo build --release --example scale_vectors 2>/dev/null
printf '[server]\ncache_entries = 0\n' > "$WORK/nocache.toml"
for n in "${COPIES[@]}"; do
  idx="$WORK/v-x$n"
  if [[ ! -d $idx ]]; then
    echo "== ${n}x: build (scale_vectors)"
    /usr/bin/time -f "build wall %e s, peak RSS %M KB" target/release/examples/scale_vectors "$SRC" "$n" "$idx" 2>&1 | tail -2
  fi
  "$BIN" stats --index "$idx" --json | python3 -c 'import json,sys; v=json.load(sys.stdin); print("papers", v["papers"], "index", round(v["size_bytes"]/2**20,1), "MiB")'
  echo "== ${n}x: in process (search bench, 3 rounds)"
  ACADEMICHUB_BENCH_INDEX="$idx" BENCH_MODEL="$MODEL" BENCH_ROUNDS=3 \
    cargo bench --bench search -- --warm-up-time 1 --measurement-time 2 bm25 2>/dev/null \
    | grep -E -A3 "^  dense  \(|^dense leg alone" || true
  echo "== ${n}x: over HTTP"
  "$BIN" serve --index "$idx" --config "$WORK/nocache.toml" --no-background-embed --addr "127.0.0.1:$PORT" \
    > "$WORK/serve-x$n.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 1
  done
  # serve decodes the vectors in the background at start-up: wait for it, then warm up.
  for _ in $(seq 1 600); do
    grep -q "vectors decoded" "$WORK/serve-x$n.log" && break
    sleep 1
  done
  grep -o "vectors=[0-9]* seconds=[0-9.]*" "$WORK/serve-x$n.log" | sed 's/^/decoded at start-up: /' || true
  # Then the inverted lists of the large segments (the warm-up thread logs when it is done).
  for _ in $(seq 1 900); do
    grep -q "inverted lists" "$WORK/serve-x$n.log" && break
    sleep 1
  done
  grep -o "inverted lists.*segments=[0-9]* seconds=[0-9.]*" "$WORK/serve-x$n.log" | sed 's/^/lists at start-up: /' || true
  wrk -t1 -c1 -d10s -s scripts/load/search.lua "http://127.0.0.1:$PORT" -- hybrid 10 fresh >/dev/null
  for mode in hybrid dense; do
    echo "-- $mode"
    wrk -t1 -c1 -d20s --latency -s scripts/load/search.lua "http://127.0.0.1:$PORT" -- "$mode" 10 fresh \
      | grep -E "^requests|^latency p50" || true
  done
  grep -E "VmRSS|VmHWM|RssAnon|RssFile" "/proc/$pid/status" | tr -s ' \t' ' '
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
