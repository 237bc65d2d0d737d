#!/usr/bin/env bash
# Saves the JSON answer of every query of scripts/load/search.lua, in each mode, byte for byte
# but for the `took_ms` field, one file per query and mode: diff two such folders (`diff -r A B`)
# to check that a change kept every response.
# Usage: scripts/load/responses.sh http://127.0.0.1:8080 OUT_DIR [K] [MODES...]
# Defaults: K 10 (as search.lua), modes bm25 dense hybrid. Needs curl and python3.
set -euo pipefail
base=${1:?usage: responses.sh URL OUT_DIR [K] [MODES...]}
out=${2:?usage: responses.sh URL OUT_DIR [K] [MODES...]}
k=${3:-10}
shift $(( $# < 3 ? $# : 3 ))
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(bm25 dense hybrid)
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
# The query list of search.lua, one query a line (Lua string escapes \" and \\ undone).
mapfile -t queries < <(python3 - "$here/search.lua" <<'PY'
import re, sys
src = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"local queries = \{(.*?)\n\}", src, re.S).group(1)
for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', block):
    print(re.sub(r'\\(.)', r'\1', m.group(1)))
PY
)
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
