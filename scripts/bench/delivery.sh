#!/usr/bin/env bash
# Radar delivery timings (BENCHMARKS.md, "Radar delivery"): the Atom feed of a 100-entry radar
# over HTTP, and an email digest of 10 radars without the LLM (built and rendered, --dry-run:
# SMTP time is the mail server's).
#
#   scripts/bench/delivery.sh URL INDEX [BIN]
#     URL    a running `academichub serve` on INDEX (e.g. http://127.0.0.1:8080)
#     INDEX  its index directory (10 radars named bench-* are added when missing)
#     BIN    the binary (default target/release/academichub)
set -euo pipefail
URL=${1:?usage: $0 URL INDEX [BIN]}
INDEX=${2:?usage: $0 URL INDEX [BIN]}
BIN=${3:-target/release/academichub}
N=${N:-30}

queries=(
  "reinforcement learning from human feedback"
  "强化学习"
  "diffusion models image generation"
  "graph neural networks molecules"
  "large language model reasoning"
  "speech recognition self-supervised"
  "quantum error correction"
  "protein structure prediction"
  "大语言模型 推理"
  "federated learning privacy"
)
ids=()
for i in "${!queries[@]}"; do
  id="bench-$i"
  ids+=("$id")
  if ! "$BIN" radar show "$id" --index "$INDEX" -k 1 --json >/dev/null 2>&1; then
    "$BIN" radar add --name "$id" --query "${queries[$i]}" --index "$INDEX" >/dev/null
  fi
done

pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100)+1; printf "%.1f", a[i]*1000}'; }

echo "== feed.atom?k=100&days=30, $N requests per radar (full ranking each: no If-None-Match)"
times=$(mktemp)
for id in "${ids[@]}"; do
  curl -s -o /dev/null "$URL/api/radars/$id/feed.atom?k=100&days=30"   # warm
  for _ in $(seq "$N"); do
    curl -s -o /dev/null -w '%{time_total}\n' "$URL/api/radars/$id/feed.atom?k=100&days=30" >>"$times"
  done
done
entries=$(curl -s "$URL/api/radars/bench-0/feed.atom?k=100&days=30" | grep -o '<entry>' | wc -l)
echo "entries per feed (bench-0): $entries"
echo "p50 $(pct 50 <"$times") ms, p99 $(pct 99 <"$times") ms over $(wc -l <"$times") requests"

echo "== conditional GET (If-None-Match: the ETag) -> 304"
etag=$(curl -s -D - -o /dev/null "$URL/api/radars/bench-0/feed.atom?k=100&days=30" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
: >"$times"
for _ in $(seq "$N"); do
  curl -s -o /dev/null -H "If-None-Match: $etag" -w '%{http_code} %{time_total}\n' "$URL/api/radars/bench-0/feed.atom?k=100&days=30" >>"$times"
done
echo "status $(cut -d' ' -f1 "$times" | sort -u | tr '\n' ' ')p50 $(cut -d' ' -f2 "$times" | pct 50) ms, p99 $(cut -d' ' -f2 "$times" | pct 99) ms"
rm -f "$times"

echo "== digest of 10 radars, k=10, days=30, --dry-run (whole process: open index, load model, rank, brief, render)"
args=()
for id in "${ids[@]}"; do args+=(--radar "$id"); done
for run in 1 2 3; do
  start=$(date +%s.%N)
  "$BIN" digest "${args[@]}" --days 30 -k 10 --dry-run --index "$INDEX" >/tmp/digest-bench.txt
  end=$(date +%s.%N)
  echo "run $run: $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.2f", b-a}') s, $(grep -c '^[0-9]*\. ' /tmp/digest-bench.txt) items"
done
