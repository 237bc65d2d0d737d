#!/usr/bin/env bash
# `serve` over HTTP on both backends (BENCHMARKS.md, "Milvus backend"): after
# scripts/bench/milvus-eval.sh DATASET_DIR WORK has built the tantivy index (WORK/index) and the
# Milvus collection (WORK/milvus, named by `eval` after the dataset) of one dataset, starts
# milvus-lite on that data, then `academichub serve` over each backend in turn (result cache off,
# no background embedding) and runs wrk with one connection (fresh queries: every query
# embedded) per mode. Prints requests/s and latency percentiles per backend and mode, and the
# server's RSS.
#
#   scripts/bench/milvus-serve.sh DATASET_DIR WORK_DIR [MODES]   (MODES default "bm25 hybrid")
#   BIN=target/release/academichub; DURATION=20s per run
set -Eeuo pipefail

DATASET=${1:?usage: milvus-serve.sh DATASET_DIR WORK_DIR [MODES]}
WORK=${2:?usage: milvus-serve.sh DATASET_DIR WORK_DIR [MODES]}
# The collection `academichub eval` made: bench_eval_<parent>_<dataset>, other characters as _.
DIR=$(cd "$DATASET" && pwd -P)
COLLECTION=$(printf 'bench_eval_%s_%s' "$(basename "$(dirname "$DIR")")" "$(basename "$DIR")" | tr -c 'A-Za-z0-9_\n' '_')
MODES=${3:-bm25 hybrid}
BIN=${BIN:-target/release/academichub}
DURATION=${DURATION:-20s}
ROOT=${ACADEMICHUB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/academichub}
LITE=${ACADEMICHUB_MILVUS_LITE:-$ROOT/test-venv/bin/milvus-lite}
[[ -x $LITE ]] || { echo "no milvus-lite at $LITE: run scripts/test-tools" >&2; exit 1; }
[[ -x $BIN ]] || { echo "no binary at $BIN: cargo build --release" >&2; exit 1; }
[[ -d $WORK/index && -d $WORK/milvus ]] || { echo "run scripts/bench/milvus-eval.sh first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 600); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    exit 1
}
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

MPORT=$(free_port)
"$LITE" server --data-dir "$WORK/milvus" --host 127.0.0.1 --port "$MPORT" >"$WORK/milvus-serve.log" 2>&1 &
PIDS+=($!)
wait_port "$MPORT"
cat >"$WORK/serve-milvus.toml" <<EOF
[index]
backend = "milvus"
[server]
cache_entries = 0
[milvus]
uri = "http://127.0.0.1:$MPORT"
collection = "$COLLECTION"
timeout_ms = 60000
EOF
printf '[server]\ncache_entries = 0\n' >"$WORK/serve-tantivy.toml"

for backend in tantivy milvus; do
    PORT=$(free_port)
    "$BIN" serve --index "$WORK/index" --config "$WORK/serve-$backend.toml" --no-background-embed \
        --addr "127.0.0.1:$PORT" >"$WORK/serve-$backend.log" 2>&1 &
    pid=$!
    PIDS+=($pid)
    wait_port "$PORT"
    papers=$(curl -sf "http://127.0.0.1:$PORT/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["papers"])')
    # Warm-up: the model, the collection's segments, the page cache.
    wrk -t1 -c1 -d5s -s scripts/load/search.lua "http://127.0.0.1:$PORT" -- hybrid 10 fresh >/dev/null
    for mode in $MODES; do
        out=$(wrk -t1 -c1 -d"$DURATION" --latency -s scripts/load/search.lua "http://127.0.0.1:$PORT" -- "$mode" 10 fresh)
        rps=$(grep -E "^Requests/sec" <<<"$out" | awk '{print $2}')
        pct=$(grep -E "^latency p50" <<<"$out" || true)
        echo "$backend $mode ($papers papers): $rps requests/s; $pct"
    done
    grep -E "VmRSS|VmHWM" "/proc/$pid/status" | tr -s ' \t' ' ' | sed "s/^/$backend serve /"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
done
