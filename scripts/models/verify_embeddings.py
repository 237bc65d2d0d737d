#!/usr/bin/env python3
"""Check a model directory (model.onnx + tokenizer files, fastembed layout) against reference vectors.

Embeds the reference texts the way fastembed's UserDefinedEmbeddingModel does with
Pooling::Mean: tokenizer.json with BatchLongest padding (pad token from
tokenizer_config.json, pad id from config.json) and truncation to
min(--max-length, model_max_length); ONNX Runtime on model.onnx, feeding
token_type_ids only if the graph has that input; mean pooling of the first output
weighted by the attention mask; L2 normalization. Prints the min / mean cosine to the
reference embeddings and exits 1 if the min is below --min-cos.

Usage: verify_embeddings.py --model-dir DIR --reference FILE.json [--max-length N] [--min-cos X]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer
from tokenizers import AddedToken


def load_tokenizer(model_dir: Path, max_length: int) -> Tokenizer:
    cfg = json.loads((model_dir / "config.json").read_text())
    tcfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    stm = json.loads((model_dir / "special_tokens_map.json").read_text())
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    pad_token = tcfg["pad_token"]
    if isinstance(pad_token, dict):
        pad_token = pad_token["content"]
    pad_id = cfg.get("pad_token_id")
    if not isinstance(pad_id, int):
        pad_id = tok.token_to_id(pad_token)
    if pad_id is None:
        pad_id = 0
    max_len = min(max_length, int(float(tcfg["model_max_length"])))
    tok.enable_padding(pad_id=pad_id, pad_token=pad_token)  # BatchLongest
    tok.enable_truncation(max_length=max_len)
    tok.add_special_tokens([AddedToken(v, special=True) for v in stm.values() if isinstance(v, str)])
    return tok


def embed(sess, tok, texts, batch):
    """Mean-pooled, L2-normalized embeddings in the order of texts. Texts are batched by
    token length (less padding); each batch is still padded to its longest text."""
    names = {i.name for i in sess.get_inputs()}
    lengths = [len(e.ids) for e in tok.encode_batch(texts)]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out = []
    for s in range(0, len(texts), batch):
        enc = tok.encode_batch([texts[i] for i in order[s:s + batch]])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.array([e.type_ids for e in enc], dtype=np.int64)
        hidden = sess.run(None, feed)[0].astype(np.float64)  # [B,S,H]
        m = mask[:, :, None].astype(np.float64)
        pooled = (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
        pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
        out.append(pooled)
    result = np.empty((len(texts), out[0].shape[1]))
    result[order] = np.concatenate(out)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, type=Path)
    ap.add_argument("--reference", required=True, type=Path)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--min-cos", type=float, default=0.999)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default=None, help="label used in the printed line")
    a = ap.parse_args()

    name = a.name or a.model_dir.name
    for f in ("model.onnx", "tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"):
        if not (a.model_dir / f).is_file():
            sys.exit(f"verify[{name}]: missing {a.model_dir / f}")
    ref = json.loads(a.reference.read_text())
    texts = ref["texts"]
    want = np.array(ref["embeddings"], dtype=np.float64)
    want /= np.linalg.norm(want, axis=1, keepdims=True)

    so = ort.SessionOptions()
    # as the engine's sessions (src/embed/onnx.rs SESSION_CONFIG)
    so.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
    so.intra_op_num_threads = a.threads
    so.log_severity_level = 3
    t0 = time.time()
    sess = ort.InferenceSession(str(a.model_dir / "model.onnx"), so, providers=["CPUExecutionProvider"])
    tok = load_tokenizer(a.model_dir, a.max_length)
    got = embed(sess, tok, texts, a.batch)
    dt = time.time() - t0
    if got.shape != want.shape:
        sys.exit(f"verify[{name}]: embedding shape {got.shape} != reference {want.shape}")
    cos = (got * want).sum(1)
    worst = int(np.argmin(cos))
    print(f"verify[{name}]: {len(texts)} texts, max_length {a.max_length}: min cosine {cos.min():.9f} "
          f"(1-min {1 - cos.min():.1e}, text #{worst}), mean {cos.mean():.9f}, {dt:.1f} s", flush=True)
    if not cos.min() >= a.min_cos:
        print(f"verify[{name}]: FAILED: min cosine {cos.min():.7f} < {a.min_cos} "
              f"(text #{worst}: {texts[worst][:80]!r})", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
