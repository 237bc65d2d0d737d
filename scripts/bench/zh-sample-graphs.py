#!/usr/bin/env python3
"""Which side of the search loses under an embedding graph: queries or passages.

Embeds a fixed arxiv-zh2en sample (the first 300 Chinese title queries, their 300 English
abstracts and 1,200 other abstracts drawn with seed 7) with each graph given, one text per
run (mean pooling, L2 norm, e5 prefixes, 512 tokens), and prints dense nDCG@10 for every
graph, plus each graph's queries against the first graph's passages and the reverse.

Usage (the fetch-models venv has onnxruntime, numpy and tokenizers):
  ~/.cache/academichub/venv/bin/python scripts/bench/zh-sample-graphs.py \\
      --tokenizer ~/.cache/academichub/models/me5-small/tokenizer.json \\
      q4=~/.cache/academichub/baseline/models/me5-small/model.onnx \\
      int8=~/.cache/academichub/models/me5-small/model.onnx \\
      [LABEL=ANY/OTHER/model.onnx ...]
Embeddings are cached in --cache (default /tmp/zh-sample-graphs) by label.
"""
import argparse
import gzip
import json
import math
import os
import random
import sys
import time

import numpy as np
import onnxruntime as ort
import tokenizers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default=os.path.join(os.path.dirname(__file__), "../../../shared/datasets"))
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--cache", default="/tmp/zh-sample-graphs")
    ap.add_argument("graphs", nargs="+", help="LABEL=PATH/model.onnx; the first is the reference")
    a = ap.parse_args()
    d = os.path.join(a.datasets, "zh/arxiv-zh2en")
    qs = [json.loads(l) for l in open(os.path.join(d, "queries.jsonl"), encoding="utf-8")][:300]
    rel = {}
    with open(os.path.join(d, "qrels/test.tsv"), encoding="utf-8") as f:
        next(f)
        for line in f:
            q, doc, _ = line.rstrip("\n").split("\t")
            rel.setdefault(q, set()).add(doc)
    corpus = {}
    with gzip.open(os.path.join(d, "corpus.jsonl.gz"), "rt", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            corpus[doc["_id"]] = doc
    need = {x for q in qs for x in rel[q["_id"]]}
    others = sorted(set(corpus) - need)
    random.Random(7).shuffle(others)
    ids = sorted(need) + others[: 1500 - len(need)]
    tk = tokenizers.Tokenizer.from_file(os.path.expanduser(a.tokenizer))
    os.makedirs(a.cache, exist_ok=True)

    def embed(path, texts, tag):
        cached = os.path.join(a.cache, tag + ".npy")
        if os.path.exists(cached):
            return np.load(cached)
        so = ort.SessionOptions()
        # as the engine's sessions (src/embed/onnx.rs SESSION_CONFIG)
        so.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
        so.intra_op_num_threads = 2
        so.log_severity_level = 3
        s = ort.InferenceSession(os.path.expanduser(path), so, providers=["CPUExecutionProvider"])
        out, t = [], time.time()
        for x in texts:
            i = tk.encode(x).ids[:512]
            h = s.run(None, {"input_ids": np.array([i]), "attention_mask": np.ones((1, len(i)), np.int64)})[0][0].mean(0)
            out.append(h / np.linalg.norm(h))
        v = np.array(out)
        np.save(cached, v)
        print(f"{tag}: {len(texts) / (time.time() - t):.1f} texts/s", file=sys.stderr)
        return v

    def ndcg(qv, dv):
        s = qv @ dv.T
        total = 0.0
        for i, q in enumerate(qs):
            for r, j in enumerate(np.argsort(-s[i])[:10]):
                if ids[j] in rel[q["_id"]]:
                    total += 1 / math.log2(r + 2)
                    break
        return total / len(qs)

    graphs = dict(g.split("=", 1) for g in a.graphs)
    emb = {}
    for label, path in graphs.items():
        emb[label] = (
            embed(path, ["query: " + q["text"] for q in qs], label + "-queries"),
            embed(path, ["passage: " + corpus[i].get("title", "") + ". " + corpus[i]["text"] for i in ids], label + "-passages"),
        )
    ref = next(iter(graphs))
    print(f"sample: {len(qs)} queries, {len(ids)} passages; reference graph {ref}")
    for label in graphs:
        print(f"{label:>8}: nDCG@10 {ndcg(*emb[label]):.4f}   its queries x {ref} passages {ndcg(emb[label][0], emb[ref][1]):.4f}"
              f"   {ref} queries x its passages {ndcg(emb[ref][0], emb[label][1]):.4f}")


if __name__ == "__main__":
    main()
