#!/usr/bin/env python3
"""Dynamic int8 quantization of an fp32 embedding graph, checked against that graph.

Runs onnxruntime.quantization.quantize_dynamic (signed int8 weights, per output channel;
activations quantized at run time, one scale per tensor) on IN and writes OUT. ORT then runs
the encoder's matrix products as int8 (VNNI/AVX2 kernels picked at run time), about twice
the fp32 throughput on a 2-core CPU.

Because the activation scale is per tensor, a text's vector depends on what else is in its
batch: the project embeds int8 graphs one text per run (schema/models.toml batch_size 1),
and the check below does the same.

The check ("against the previous graph"): every text of --reference (the 48 reference
texts) is embedded with IN and with OUT (mean pooling, L2 norm) and the minimum cosine
must reach --min-cos. The tolerance against the float reference itself is checked
afterwards by verify_embeddings.py, as for every graph.

Usage: quantize_int8.py --in fp32.onnx --out int8.onnx --model-dir DIR --reference REF.json
                        --max-length N [--ops MatMul[,Attention...]] [--min-cos 0.99]
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def log(msg):
    print(f"quantize_int8: {msg}", file=sys.stderr, flush=True)


def embed(sess, tk, texts, max_length):
    names = {i.name for i in sess.get_inputs()}
    out = []
    for t in texts:
        enc = tk.encode(t)
        ids = enc.ids[:max_length]
        feed = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64)}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros((1, len(ids)), np.int64)
        h = sess.run(None, feed)[0][0]
        v = h.mean(0)
        out.append(v / np.linalg.norm(v))
    return np.array(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--in", dest="src", required=True, help="fp32 model.onnx")
    ap.add_argument("--out", required=True, help="int8 model.onnx to write")
    ap.add_argument("--model-dir", required=True, help="folder with tokenizer.json for the check")
    ap.add_argument("--reference", required=True, help="reference JSON whose texts are embedded by both graphs")
    ap.add_argument("--max-length", type=int, required=True)
    ap.add_argument("--ops", default="MatMul", help="comma-separated op types to quantize (default MatMul)")
    ap.add_argument("--min-cos", type=float, default=0.99)
    ap.add_argument("--exclude", default="", help="regex: nodes with an input (weight) name matching it stay float")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import tokenizers
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import logging
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's "consider pre-processing" advice
    ort.set_default_logger_severity(3)
    t0 = time.monotonic()
    ops = [o for o in args.ops.split(",") if o]
    excluded = []
    if args.exclude:
        import re

        import onnx

        pat = re.compile(args.exclude)
        m = onnx.load(args.src, load_external_data=False)
        excluded = [n.name for n in m.graph.node if any(pat.search(i) for i in n.input)]
        del m
        log(f"{len(excluded)} nodes stay float (--exclude {args.exclude})")
    quantize_dynamic(
        args.src,
        args.out,
        nodes_to_exclude=excluded,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=ops,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    log(f"quantized {', '.join(ops)} in {time.monotonic() - t0:.1f} s: "
        f"{os.path.getsize(args.src):,} -> {os.path.getsize(args.out):,} bytes")

    with open(args.reference, encoding="utf-8") as f:
        ref = json.load(f)
    texts = ref["texts"]
    tk = tokenizers.Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    a = embed(ort.InferenceSession(args.src, so, providers=["CPUExecutionProvider"]), tk, texts, args.max_length)
    b = embed(ort.InferenceSession(args.out, so, providers=["CPUExecutionProvider"]), tk, texts, args.max_length)
    cos = (a * b).sum(1)
    worst = int(cos.argmin())
    line = (f"int8 vs fp32 graph: {len(texts)} texts, min cosine {cos.min():.6f} (text #{worst}), "
            f"mean {cos.mean():.6f}")
    log(line)
    if cos.min() < args.min_cos:
        log(f"error: min cosine {cos.min():.6f} < {args.min_cos}: the int8 graph is not installed")
        return 1
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
