#!/usr/bin/env python3
"""Writes N copies of the 118K arXiv corpus as one arXiv-JSONL file for the single-node scale
benchmark (BENCHMARKS.md, "Scale"): copy 0 is the real corpus; in copy c > 0 every paper gets
the distinct id `<id>-c<c>` and its listing date shifted back by c days. Text, authors and
categories are the real ones.

    scripts/bench/scale_corpus.py COPIES OUT.jsonl.gz [CORPUS]
"""
import gzip
import json
import sys
from datetime import date, timedelta

copies = int(sys.argv[1])
out = sys.argv[2]
corpus = sys.argv[3] if len(sys.argv) > 3 else "../shared/datasets/corpora/arxiv-118k.jsonl.gz"
papers = [json.loads(l) for l in gzip.open(corpus, "rt", encoding="utf-8")]
n = 0
with gzip.open(out, "wt", encoding="utf-8", compresslevel=1) as f:
    for c in range(copies):
        for p in papers:
            q = p
            if c > 0:
                q = dict(p)
                q["id"] = f"{p['id']}-c{c}"
                d = p.get("listing_file_date")
                if d:
                    q["listing_file_date"] = (date.fromisoformat(d) - timedelta(days=c)).isoformat()
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
            n += 1
print(f"wrote {n} papers ({copies} x {len(papers)}) to {out}", file=sys.stderr)
