#!/usr/bin/env python3
"""ONNX Runtime op-time profile of an embedding graph, and its throughput with and without
the SkipLayerNormalization fusion (BENCHMARKS.md, "Embedding throughput").

    VENV=$(scripts/fetch-models --print-root)/venv
    $VENV/bin/python scripts/bench/ort_fusion.py MODEL_DIR [TEXTS] [ROUNDS] [--prefix "passage: "]

MODEL_DIR holds model.onnx and tokenizer.json (for example `<cache>/models/me5-small` or
`<cache>/baseline/models/me5-small`). TEXTS SciFact abstracts of tests/fixtures/scifact-mini
(default 24), one text per run, one intra-op thread, no padding, truncation at 512. Prints the
share of kernel time per op type (fusion on, as ORT's default), then docs/s of the two
sessions in interleaved rounds and the minimum cosine between their mean-pooled vectors.
"""
import argparse
import collections
import json
import os
import time

import numpy as np
import onnxruntime as ort
import tokenizers

DISABLE = ("optimization.disable_specified_optimizers", "SkipLayerNormFusion")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("texts", nargs="?", type=int, default=24)
    ap.add_argument("rounds", nargs="?", type=int, default=3)
    ap.add_argument("--prefix", default="passage: ")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = os.path.join(here, "..", "..", "tests", "fixtures", "scifact-mini", "corpus.jsonl")
    tk = tokenizers.Tokenizer.from_file(os.path.join(a.model_dir, "tokenizer.json"))
    tk.no_padding()
    tk.enable_truncation(512)
    docs = [json.loads(l) for l in open(corpus, encoding="utf-8")][: a.texts]
    ids = [tk.encode(a.prefix + d["title"] + ". " + d["text"]).ids for d in docs]

    def session(disable, profile=False):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.enable_profiling = profile
        if disable:
            so.add_session_config_entry(*DISABLE)
        s = ort.InferenceSession(os.path.join(a.model_dir, "model.onnx"), so, providers=["CPUExecutionProvider"])
        names = {i.name for i in s.get_inputs()}

        def run(x):
            feed = {"input_ids": np.array([x], np.int64), "attention_mask": np.ones((1, len(x)), np.int64)}
            if "token_type_ids" in names:
                feed["token_type_ids"] = np.zeros((1, len(x)), np.int64)
            return s.run(None, feed)[0][0]
        return s, run

    prof, run = session(False, profile=True)
    for x in ids:
        run(x)
    path = prof.end_profiling()
    shares, total = collections.Counter(), 0
    for e in json.load(open(path)):
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            shares[e["args"]["op_name"]] += e["dur"]
            total += e["dur"]
    os.remove(path)
    print("kernel time by op (fusion on):")
    for op, t in shares.most_common(8):
        print(f"  {op:28s} {100 * t / total:5.1f}%")

    runs = {"fusion on (ORT default)": session(False)[1], "SkipLayerNormFusion off": session(True)[1]}
    vec = {}
    for k, r in runs.items():
        v = np.array([r(x).mean(0) for x in ids])
        vec[k] = v / np.linalg.norm(v, axis=1, keepdims=True)
    a_, b_ = vec.values()
    print(f"min cosine between the two: {(a_ * b_).sum(1).min():.6f}")
    secs = {k: 0.0 for k in runs}
    for _ in range(a.rounds):
        for k, r in runs.items():
            t = time.perf_counter()
            for x in ids:
                r(x)
            secs[k] += time.perf_counter() - t
    for k, s in secs.items():
        print(f"  {k:26s} {len(ids) * a.rounds / s:6.2f} docs/s")


if __name__ == "__main__":
    main()
