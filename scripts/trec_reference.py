#!/usr/bin/env python3
"""Independent reference metrics for a TREC run, computed by pytrec_eval-terrier (trec_eval).

Usage: python3 scripts/trec_reference.py RUN QRELS_TSV > expected.json
(`pip install pytrec_eval-terrier`; the package `pytrec_eval` does not build here.)

Prints {"per_query": {qid: {"ndcg@10", "recall@100", "mrr@10", "map@100", "p@10"}},
"mean": {...}}.
MRR@10 is trec_eval's recip_rank when the first relevant document is within rank 10, else 0.
Queries of the qrels that are absent from the run count as zeros (trec_eval -c).
"""
import json, sys

import pytrec_eval

run_path, qrels_path = sys.argv[1], sys.argv[2]
qrels = {}
with open(qrels_path) as f:
    for i, line in enumerate(f):
        cols = line.rstrip("\n").split("\t")
        if i == 0 and cols[0] == "query-id":
            continue
        q, d, r = cols
        qrels.setdefault(q, {})[d] = int(r)
run = {}
with open(run_path) as f:
    for line in f:
        q, _, d, _, s, _ = line.split()
        run.setdefault(q, {})[d] = float(s)
judged = {q: j for q, j in qrels.items() if any(r >= 1 for r in j.values())}
ev = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100", "recip_rank", "map_cut.100", "P.10"})
res = ev.evaluate({q: run.get(q, {}) for q in judged})
per = {}
for q in judged:
    m = res.get(q)
    if m is None:
        per[q] = {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0, "map@100": 0.0, "p@10": 0.0}
        continue
    rr = m["recip_rank"]
    per[q] = {
        "ndcg@10": m["ndcg_cut_10"],
        "recall@100": m["recall_100"],
        "mrr@10": rr if rr >= 0.1 - 1e-12 else 0.0,
        "map@100": m["map_cut_100"],
        "p@10": m["P_10"],
    }
keys = ["ndcg@10", "recall@100", "mrr@10", "map@100", "p@10"]
mean = {k: sum(p[k] for p in per.values()) / len(per) for k in keys}
json.dump({"tool": "pytrec_eval-terrier " + getattr(pytrec_eval, "__version__", "0.5.11"), "per_query": per, "mean": mean}, sys.stdout, indent=1, sort_keys=True)
print()
