#!/usr/bin/env python3
"""Cut the small committed test fixtures out of the shared datasets (deterministic).

Usage: python3 scripts/make_fixtures.py [DATASETS_DIR]   (default ../shared/datasets)

Writes tests/fixtures/{scifact-mini,csl-mini}/ (BEIR layout) and tests/fixtures/arxiv-mini.jsonl(.gz).
"""
import gzip, json, os, random, sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")
out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
rng = random.Random(20261126)


def beir_subset(src, dst, n_queries, n_noise, split="test", queries_file="queries.jsonl"):
    os.makedirs(os.path.join(dst, "qrels"), exist_ok=True)
    qrels = {}
    with open(os.path.join(src, "qrels", f"{split}.tsv")) as f:
        next(f)
        for line in f:
            q, d, r = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(r)
    qids = sorted(qrels)
    chosen = set(rng.sample(qids, n_queries))
    wanted = {d for q in chosen for d in qrels[q]}
    corpus = [json.loads(l) for l in open(os.path.join(src, "corpus.jsonl"))]
    others = [d for d in corpus if d["_id"] not in wanted]
    noise = {d["_id"] for d in rng.sample(others, n_noise)}
    with open(os.path.join(dst, "corpus.jsonl"), "w") as f:
        for d in corpus:
            if d["_id"] in wanted or d["_id"] in noise:
                f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(os.path.join(dst, "queries.jsonl"), "w") as f:
        for l in open(os.path.join(src, queries_file)):
            if json.loads(l)["_id"] in chosen:
                f.write(l)
    with open(os.path.join(dst, "qrels", "test.tsv"), "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in sorted(chosen):
            for d, r in sorted(qrels[q].items()):
                f.write(f"{q}\t{d}\t{r}\n")


beir_subset(os.path.join(root, "beir", "scifact"), os.path.join(out, "scifact-mini"), 40, 360)
beir_subset(os.path.join(root, "zh", "csl-title2abstract"), os.path.join(out, "csl-mini"), 60, 140)

# arXiv: the cs.CL papers of one listing day plus a random sample with LaTeX and class codes.
rows = [json.loads(l) for l in gzip.open(os.path.join(root, "corpora", "arxiv-118k.jsonl.gz"), "rt")]
day = [r for r in rows if r["listing_file_date"] == "2026-06-16" and (r["categories"] or [None])[0] == "cs.CL"][:80]
latex = [r for r in rows if "$" in (r["abstract"] or "")]
codes = [r for r in rows if any(not c[:1].islower() for c in (r["categories"] or []))]
sample = day + rng.sample(latex, 60) + rng.sample(codes, 10) + rng.sample(rows, 100)
seen, uniq = set(), []
for r in sample:
    if r["id"] not in seen:
        seen.add(r["id"])
        uniq.append(r)
with open(os.path.join(out, "arxiv-mini.jsonl"), "w") as f:
    for r in uniq:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
with gzip.open(os.path.join(out, "arxiv-mini.jsonl.gz"), "wt") as f:
    for r in uniq:
        f.write(json.dumps(r, ensure_ascii=False) + "\n")
print(f"scifact-mini, csl-mini, arxiv-mini ({len(uniq)} papers) written to {out}")
