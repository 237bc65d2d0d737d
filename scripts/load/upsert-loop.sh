#!/usr/bin/env bash
# Concurrent ingest for the load test: repeatedly POSTs batches of real papers (re-upserts of
# the demo corpus, with a changed comment so every batch rewrites its papers) to
# /api/papers until killed or for N rounds. Prints one line per batch; exits non-zero on the
# first failed request.
# Usage: ACADEMICHUB_TOKEN=... scripts/load/upsert-loop.sh URL CORPUS.jsonl.gz BATCH ROUNDS
set -euo pipefail
url=${1:?url}; corpus=${2:?corpus}; batch=${3:-50}; rounds=${4:-100}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 - "$corpus" "$batch" "$rounds" "$tmp" <<'PY'
import gzip, json, sys
corpus, batch, rounds, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
opener = gzip.open if open(corpus, 'rb').read(2) == b'\x1f\x8b' else open
papers = []
with opener(corpus, 'rt') as f:
    for line in f:
        r = json.loads(line)
        papers.append({"id": r["id"], "title": r["title"] or "", "abstract": r["abstract"] or "",
                       "authors": r.get("authors") or [], "categories": r.get("categories") or [],
                       "source": "arxiv", "published": r.get("listing_file_date") or None})
        if len(papers) >= batch * rounds:
            break
for i in range(rounds):
    chunk = papers[i * batch:(i + 1) * batch]
    for p in chunk:
        p["comment"] = f"load-test round {i}"
    json.dump(chunk, open(f"{out}/{i:05d}.json", "w"))
PY
fail=0
for f in "$tmp"/*.json; do
  code=$(curl -s -o "$tmp/resp" -w '%{http_code}' -X POST "$url/api/papers" \
    -H "Authorization: Bearer $ACADEMICHUB_TOKEN" -H 'Content-Type: application/json' --data-binary "@$f")
  if [ "$code" != 200 ]; then echo "FAILED $code: $(cat "$tmp/resp")"; fail=1; break; fi
  echo "$(basename "$f") $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["upserted"], "papers", round(r["took_ms"]), "ms")' "$tmp/resp")"
done
exit $fail
