#!/usr/bin/env bash
# Saves the JSON answer of every query of scripts/load/search.lua (scripts/load/queries.txt), in each mode, byte for byte
# but for the `took_ms` field, one file per query and mode: diff two such folders (`diff -r A B`)
# to check that a change kept every response.
# Usage: scripts/load/responses.sh http://127.0.0.1:8080 OUT_DIR [K] [MODES...]
# Defaults: K 10 (as search.lua), modes bm25 dense hybrid. Needs curl.
set -euo pipefail
base=${1:?usage: responses.sh URL OUT_DIR [K] [MODES...]}
out=${2:?usage: responses.sh URL OUT_DIR [K] [MODES...]}
k=${3:-10}
shift $(( $# < 3 ? $# : 3 ))
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(bm25 dense hybrid)
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
# The query list of search.lua (scripts/load/queries.txt, one a line).
mapfile -t queries < <(grep -v '^[[:space:]]*$' "$here/queries.txt")
n=0
for mode in "${modes[@]}"; do
  for i in "${!queries[@]}"; do
    q=${queries[$i]}
    file=$(printf '%s/%s-%02d.json' "$out" "$mode" "$i")
    curl -sS -G --data-urlencode "q=$q" --data-urlencode "mode=$mode" --data-urlencode "k=$k" \
      "$base/api/search" | sed -E 's/,"took_ms":[-0-9.eE+]+//' > "$file"
    n=$((n + 1))
  done
done
echo "saved $n responses (${#queries[@]} queries x ${#modes[@]} modes) in $out"
