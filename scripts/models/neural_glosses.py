#!/usr/bin/env python3
"""Build the model glossary of query translation (src/search/translate/glossary.tsv).

CC-CEDICT lacks most technical senses (分割 is "to cut up", never "segmentation"; 对抗 has
no "adversarial", 驾驶 no "driving"). This script asks the multilingual embedding model
AcademicHub ships (me5-small, the int8 graph `scripts/fetch-models` builds) which English
words a Chinese headword sits nearest to:

1. English vocabulary: the words ([a-z]{3,}) of the first 30,000 papers of the arXiv demo
   corpus, those in at least 8 papers, the 12,000 most frequent, each embedded as
   "query: WORD" (one text per run, mean pooling, L2 norm, as the engine embeds queries).
2. Every simplified CC-CEDICT headword of 2-4 Han characters, embedded the same way; its
   8 nearest vocabulary words by cosine (a short list of function words excluded).
   With --jieba-dict, also the jieba dictionary's words of 2-4 Han characters that CC-CEDICT
   lacks (卷积, 泛函 ...), those of at least --jieba-min-freq and of a content part of speech
   (nouns, verbs, adjectives, fixed expressions; no names, places or idioms).
3. Strict glosses: a headword keeps at most --max-glosses neighbours, those with cosine >=
   --min-cos and within --margin of its best one: only a clear, strong match becomes a gloss.
4. Loose glosses (third column): up to --loose-max further neighbours at cosine >=
   --loose-min-cos (卷积 -> convolutional, among encoding and knot). Too weak to trust alone,
   the engine keeps one only where the papers use it in a phrase with a neighbouring word's
   translation ("convolutional neural").

The engine appends these glosses after the headword's CC-CEDICT senses
(`Dictionary::merge_glossary`), so they join the candidates that corpus statistics choose
between (phrase counts, document frequencies); they never replace a dictionary sense. A jieba
word CC-CEDICT lacks becomes a headword of its own only through these lines.
Cosines depend slightly on the CPU's int8 kernels, so a rebuild on another machine may add
or drop a borderline word.

    VENV=$(scripts/fetch-models --print-root)/venv
    $VENV/bin/python scripts/models/neural_glosses.py \\
        --model-dir $(scripts/fetch-models --print-root)/models/me5-small \\
        --cedict $(scripts/fetch-models --print-root)/cedict/cedict_1_0_ts_utf-8_mdbg.txt \\
        --corpus ../shared/datasets/corpora/arxiv-118k.jsonl.gz \\
        --jieba-dict ~/.cargo/registry/src/*/jieba-rs-0.8.1/src/data/dict.txt \\
        --neighbors /tmp/neighbors.tsv --out src/search/translate/glossary.tsv

Embedding the ~98,000 headwords and ~40,000 jieba words takes about 30 minutes on one core; `--neighbors FILE`
keeps the nearest-word lists, and an existing FILE is read instead of embedding again
(to try other selection parameters).
"""
import argparse
import collections
import gzip
import json
import re
import sys
import time

STOP = set("the and for with that this from are was were has have been which their these those its "
           "into than then also can may not but all any such our via using based new two one use used".split())


def log(msg):
    print(f"neural_glosses: {msg}", file=sys.stderr, flush=True)


def vocabulary(corpus, papers, min_df, size):
    df = collections.Counter()
    with gzip.open(corpus, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i >= papers:
                break
            d = json.loads(line)
            text = (d.get("title", "") + " " + d.get("abstract", "")).lower()
            df.update(set(re.findall(r"[a-z]{3,}", text)))
    ranked = sorted((w for w, c in df.items() if c >= min_df), key=lambda w: (-df[w], w))
    return ranked[:size]


def headwords(cedict):
    words = set()
    with open(cedict, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            parts = line.split(" ", 2)
            if len(parts) < 3:
                continue
            w = parts[1]
            if 2 <= len(w) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in w):
                words.add(w)
    return sorted(words)


JIEBA_TAGS = {"n", "nz", "vn", "v", "a", "an", "l", "j"}


def jieba_words(path, known, min_freq):
    """Content words of jieba's dictionary (word freq tag lines) of 2-4 Han characters that
    are not in `known`."""
    words = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3:
                continue
            w, freq, tag = parts[0], parts[1], parts[2]
            if (w not in known and 2 <= len(w) <= 4 and all("\u4e00" <= c <= "\u9fff" for c in w)
                    and tag in JIEBA_TAGS and freq.isdigit() and int(freq) >= min_freq):
                words.add(w)
    return sorted(words)


def neighbours(args):
    import numpy as np
    import onnxruntime as ort
    import tokenizers

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    # as the engine's sessions (src/embed/onnx.rs SESSION_CONFIG)
    so.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
    sess = ort.InferenceSession(f"{args.model_dir}/model.onnx", so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    tk = tokenizers.Tokenizer.from_file(f"{args.model_dir}/tokenizer.json")

    def embed(text):
        ids = tk.encode(text).ids
        feed = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, len(ids)), np.int64)}
        if "token_type_ids" in names:
            feed["token_type_ids"] = np.zeros((1, len(ids)), np.int64)
        h = sess.run(None, feed)[0][0].mean(0)
        return h / np.linalg.norm(h)

    vocab = vocabulary(args.corpus, 30000, 8, 12000)
    t0 = time.time()
    V = np.array([embed("query: " + w) for w in vocab])
    log(f"{len(vocab)} English words embedded in {time.time() - t0:.0f} s")
    keep = np.array([w not in STOP for w in vocab])
    words = headwords(args.cedict)
    if args.jieba_dict:
        extra = jieba_words(args.jieba_dict, set(words), args.jieba_min_freq)
        log(f"{len(extra)} jieba words CC-CEDICT lacks")
        words += extra
    log(f"{len(words)} headwords to embed")
    t0 = time.time()
    with open(args.neighbors, "w", encoding="utf-8") as out:
        for i, w in enumerate(words):
            sc = V @ embed("query: " + w)
            sc[~keep] = -1
            top = np.argpartition(-sc, 8)[:8]
            top = top[np.argsort(-sc[top])]
            out.write(w + "\t" + " ".join(f"{vocab[j]}:{sc[j]:.3f}" for j in top) + "\n")
            if i % 10000 == 0:
                log(f"{i} headwords, {time.time() - t0:.0f} s")


def select(args):
    kept = []
    with open(args.neighbors, encoding="utf-8") as f:
        for line in f:
            w, rest = line.rstrip("\n").split("\t")
            cands = [(x.rsplit(":", 1)[0], float(x.rsplit(":", 1)[1])) for x in rest.split()]
            best = cands[0][1]
            g = [x for x, s in cands if s >= args.min_cos and s >= best - args.margin][: args.max_glosses]
            loose = [x for x, s in cands if s >= args.loose_min_cos and x not in g][: args.loose_max]
            if g or loose:
                kept.append((w, g, loose))
    with open(args.out, "w", encoding="utf-8") as out:
        out.write("# Model glossary of query translation: simplified headword TAB strict glosses TAB loose glosses\n")
        out.write("# (/-separated; loose ones count only where the papers use them in a phrase).\n")
        out.write(f"# Built by scripts/models/neural_glosses.py (me5-small int8; --min-cos {args.min_cos} "
                  f"--margin {args.margin} --max-glosses {args.max_glosses} --loose-min-cos {args.loose_min_cos} "
                  f"--loose-max {args.loose_max}) from CC-CEDICT headwords\n")
        out.write("# (CC BY-SA 4.0, MDBG), jieba dictionary words (MIT) and words of the arXiv demo corpus.\n")
        for w, g, loose in kept:
            out.write(f"{w}\t{'/'.join(g)}\t{'/'.join(loose)}\n")
    log(f"{len(kept)} headwords with glosses -> {args.out}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", help="me5-small model directory (model.onnx, tokenizer.json)")
    ap.add_argument("--cedict", help="CC-CEDICT text file")
    ap.add_argument("--corpus", help="arXiv JSON-lines corpus (gzip) for the English vocabulary")
    ap.add_argument("--neighbors", required=True, help="nearest-word lists (written, or read when present)")
    ap.add_argument("--out", required=True, help="glossary TSV to write")
    ap.add_argument("--min-cos", type=float, default=0.90)
    ap.add_argument("--margin", type=float, default=0.01)
    ap.add_argument("--max-glosses", type=int, default=3)
    ap.add_argument("--loose-min-cos", type=float, default=0.85)
    ap.add_argument("--loose-max", type=int, default=8)
    ap.add_argument("--jieba-dict", help="jieba dict.txt: also embed its content words CC-CEDICT lacks")
    ap.add_argument("--jieba-min-freq", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import os
    if not os.path.exists(args.neighbors):
        if not (args.model_dir and args.cedict and args.corpus):
            ap.error("--model-dir, --cedict and --corpus are needed to compute --neighbors")
        neighbours(args)
    select(args)


if __name__ == "__main__":
    main()
