#!/usr/bin/env python3
"""Dynamic int8 quantization of an fp32 embedding graph, checked against that graph.

Runs onnxruntime.quantization.quantize_dynamic (signed int8 weights, per output channel;
activations quantized at run time, one scale per tensor) on IN and writes OUT. ORT then runs
the encoder's matrix products as int8 (VNNI/AVX2 kernels picked at run time), about twice
the fp32 throughput on a 2-core CPU.

`--smooth ALPHA` first applies SmoothQuant (Xiao et al., 2023, "SmoothQuant: Accurate and
Efficient Post-Training Quantization for Large Language Models"): for every quantized product
X @ W, per input channel j, s_j = max|X_j|^ALPHA / max|W_j|^(1 - ALPHA), with max|X_j| measured
on the --calib texts through the fp32 graph; the graph then computes (X / s) @ (diag(s) W),
the same function in exact arithmetic, with a Mul node before the product. The activation
outliers (a few channels of the post-GELU and LayerNorm outputs, up to 66 against a median
of 1.5 in multilingual-e5-small) move into the weights, which are quantized per channel, so
one per-tensor activation scale no longer wastes its range on them.

Because the activation scale is per tensor, a text's vector depends on what else is in its
batch: the project embeds int8 graphs one text per run (schema/models.toml batch_size 1),
and the check below does the same.

The check ("against the previous graph"): every text of --reference (the 48 reference
texts) is embedded with IN and with OUT (mean pooling, L2 norm) and the minimum cosine
must reach --min-cos. The tolerance against the float reference itself is checked
afterwards by verify_embeddings.py, as for every graph.

Usage: quantize_int8.py --in fp32.onnx --out int8.onnx --model-dir DIR --reference REF.json
                        --max-length N [--ops MatMul[,Attention...]] [--min-cos 0.99]
                        [--exclude REGEX] [--smooth ALPHA --calib FILE.jsonl[,FILE...] [--prefix P]]
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


def calib_texts(paths, prefix, per_file):
    """Up to per_file texts of each JSON-lines file: title and abstract/text, like passages."""
    texts = []
    for path in paths:
        n = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                d = json.loads(line)
                body = d.get("abstract") or d.get("text") or ""
                title = d.get("title") or ""
                texts.append(prefix + (f"{title}. {body}" if title else body))
                n += 1
                if n >= per_file:
                    break
    if not texts:
        raise SystemExit("quantize_int8: error: --calib gave no texts")
    return texts


def smooth(src, dst, tk, texts, max_length, ops, alpha):
    """SmoothQuant: rescale every product of op type `ops` (input 0 activations, input 1 the
    weight initializer [in, out]) by per-input-channel factors; writes dst, returns a summary."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(src)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    targets = [n for n in graph.node if n.op_type in ops and len(n.input) > 1 and n.input[1] in inits]
    acts = sorted({n.input[0] for n in targets})
    probe = onnx.load(src)
    for a in acts:
        probe.graph.output.append(helper.make_tensor_value_info(a, TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(probe.SerializeToString(), so, providers=["CPUExecutionProvider"])
    del probe
    names = [o.name for o in sess.get_outputs()]
    inputs = {i.name for i in sess.get_inputs()}
    amax = {}
    for t in texts:
        ids = tk.encode(t).ids[:max_length]
        feed = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64)}
        if "token_type_ids" in inputs:
            feed["token_type_ids"] = np.zeros((1, len(ids)), np.int64)
        got = dict(zip(names, sess.run(None, feed)))
        for a in acts:
            v = np.abs(got[a]).reshape(-1, got[a].shape[-1]).max(0)
            amax[a] = v if a not in amax else np.maximum(amax[a], v)
    worst = 0.0
    for n in targets:
        a, wname = n.input[0], n.input[1]
        w = numpy_helper.to_array(inits[wname]).astype(np.float32)
        if w.ndim != 2 or w.shape[0] != amax[a].shape[0]:
            continue
        s = np.maximum(amax[a], 1e-5) ** alpha / np.maximum(np.abs(w).max(1), 1e-5) ** (1 - alpha)
        s = s.astype(np.float32)
        worst = max(worst, float(amax[a].max() / max(np.median(amax[a]), 1e-9)))
        inits[wname].CopyFrom(numpy_helper.from_array(w * s[:, None], wname))
        inv = f"{n.name}_smooth_inv"
        graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), inv))
        scaled = f"{a}_smooth_{n.name}"
        graph.node.insert(list(graph.node).index(n), helper.make_node("Mul", [a, inv], [scaled], name=f"{n.name}_smooth"))
        n.input[0] = scaled
    onnx.save(model, dst)
    return f"smoothed {len(targets)} products (alpha {alpha}, {len(texts)} calibration texts; largest activation max/median {worst:.0f})"


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
    ap.add_argument("--smooth", type=float, default=None, metavar="ALPHA",
                    help="SmoothQuant migration strength in [0, 1] before quantizing (needs --calib)")
    ap.add_argument("--calib", default="", help="comma-separated JSON-lines files of calibration texts for --smooth")
    ap.add_argument("--calib-per-file", type=int, default=48, help="texts taken from each --calib file (default 48)")
    ap.add_argument("--prefix", default="", help="prefix of the calibration texts (for example 'passage: ')")
    args = ap.parse_args(argv)
    if args.smooth is not None and not (0.0 <= args.smooth <= 1.0):
        ap.error("--smooth must be in [0, 1]")
    if args.smooth is not None and not args.calib:
        ap.error("--smooth needs --calib")

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
    tk = tokenizers.Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    # As the engine tokenizes (src/embed/onnx.rs): no padding, truncation at the model's
    # length. MiniLM's tokenizer.json pads to and truncates at 128, which padded short
    # calibration and check texts with [PAD] rows that mean pooling then counted.
    tk.no_padding()
    tk.enable_truncation(args.max_length)
    src = args.src
    if args.smooth is not None:
        texts = calib_texts([p for p in args.calib.split(",") if p], args.prefix, args.calib_per_file)
        src = args.out + ".smoothed.onnx"
        log(smooth(args.src, src, tk, texts, args.max_length, set(ops), args.smooth))
    quantize_dynamic(
        src,
        args.out,
        nodes_to_exclude=excluded,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=ops,
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    if src != args.src:
        os.remove(src)
    log(f"quantized {', '.join(ops)} in {time.monotonic() - t0:.1f} s: "
        f"{os.path.getsize(args.src):,} -> {os.path.getsize(args.out):,} bytes")

    with open(args.reference, encoding="utf-8") as f:
        ref = json.load(f)
    texts = ref["texts"]
    so = ort.SessionOptions()
    # as the engine's sessions (src/embed/onnx.rs SESSION_CONFIG)
    so.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
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
