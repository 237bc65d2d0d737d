#!/usr/bin/env bash
# The tantivy and Milvus backends side by side on one BEIR dataset (BENCHMARKS.md, "Milvus
# backend"): starts milvus-lite (the venv of scripts/test-tools) on a free loopback port with a
# fresh data directory, then runs `academichub eval` in each mode on both backends and prints
# one line per run. The tantivy index goes to WORK/index, the Milvus data to WORK/milvus (and the
# vocabulary sample of query translation to WORK/milvus-eval-milvus).
#
#   scripts/bench/milvus-eval.sh DATASET_DIR WORK_DIR [MODES]   (MODES default "bm25 dense hybrid")
#   VECTOR_INDEX=FLAT|AUTOINDEX|...   the Milvus collection's vector index (default AUTOINDEX)
#   BIN=target/release/academichub   the binary (built by `cargo build --release`)
#   EVAL_ARGS="--no-translate"       more flags for every `academichub eval` (word-split)
set -Eeuo pipefail

DATASET=${1:?usage: milvus-eval.sh DATASET_DIR WORK_DIR [MODES]}
WORK=${2:?usage: milvus-eval.sh DATASET_DIR WORK_DIR [MODES]}
MODES=${3:-bm25 dense hybrid}
BIN=${BIN:-target/release/academichub}
ROOT=${ACADEMICHUB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/academichub}
LITE=${ACADEMICHUB_MILVUS_LITE:-$ROOT/test-venv/bin/milvus-lite}
[[ -x $LITE ]] || { echo "no milvus-lite at $LITE: run scripts/test-tools" >&2; exit 1; }
[[ -x $BIN ]] || { echo "no binary at $BIN: cargo build --release" >&2; exit 1; }

mkdir -p "$WORK/milvus"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$LITE" server --data-dir "$WORK/milvus" --host 127.0.0.1 --port "$PORT" >"$WORK/milvus.log" 2>&1 &
LITE_PID=$!
trap 'kill $LITE_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
CONFIG="$WORK/milvus.toml"
cat >"$CONFIG" <<EOF
[index]
backend = "milvus"
[milvus]
uri = "http://127.0.0.1:$PORT"
collection = "bench"
timeout_ms = 60000
vector_index = "${VECTOR_INDEX:-AUTOINDEX}"
EOF

FORMAT="$WORK/line.py"
cat >"$FORMAT" <<'PY'
import json, sys
d = json.load(sys.stdin)
ms = d["search_seconds"] * 1000 / d["queries"]
print(f"{sys.argv[1]:8} {d['mode']:7} nDCG@10 {d['ndcg@10']:.4f}  Recall@100 {d['recall@100']:.4f}  "
      f"MRR@10 {d['mrr@10']:.4f}  {ms:.1f} ms/query  ({d['queries']} queries, "
      f"{d['documents']} papers; indexing {d['index_seconds']:.1f} s)")
PY
line() { python3 "$FORMAT" "$1"; }
for mode in $MODES; do
    "$BIN" eval --dataset "$DATASET" --index "$WORK/index" --mode "$mode" --model me5-small --json ${EVAL_ARGS:-} \
        2>/dev/null | line tantivy
    "$BIN" eval --dataset "$DATASET" --config "$CONFIG" --index "$WORK/milvus-eval" --mode "$mode" --model me5-small --json ${EVAL_ARGS:-} \
        2>/dev/null | line milvus
done
