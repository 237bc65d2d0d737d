#!/usr/bin/env python3
"""Builds the short-Chinese-terms evaluation set over the 118K arXiv corpus.

For each line of terms.tsv (a Chinese technical term and the English term a paper on it
uses), a paper is relevant when its title or abstract contains the English term (any case;
hyphens read as spaces; the last word may take a plural -s/-es). Writes a BEIR-layout
folder that `academichub eval` reads with `--index` pointing at an index of that corpus:

    scripts/zh-terms/make_dataset.py [--corpus ../shared/datasets/corpora/arxiv-118k.jsonl.gz] \
        [--out index-data/eval-sets/zh-terms]
    academichub import --format arxiv-jsonl <corpus> --index index-data/papers
    academichub eval --dataset index-data/eval-sets/zh-terms --index index-data/papers --mode bm25

`p@10` of the report is the share of the top ten that use the English term.
"""
import argparse
import gzip
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def norm(text):
    return re.sub(r"\s+", " ", re.sub(r"[-‐‑–]", " ", text.lower()))


def pattern(english):
    alts = []
    for alt in english.split("|"):
        words = norm(alt).split()
        body = r"\s".join(re.escape(w) for w in words[:-1])
        last = re.escape(words[-1]) + r"(?:s|es)?"
        alts.append((body + r"\s" if body else "") + last)
    return re.compile(r"\b(?:" + "|".join(alts) + r")\b")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="../shared/datasets/corpora/arxiv-118k.jsonl.gz")
    ap.add_argument("--out", default="index-data/eval-sets/zh-terms")
    ap.add_argument("--terms", default=os.path.join(HERE, "terms.tsv"))
    a = ap.parse_args()
    if not os.path.exists(a.corpus):
        sys.exit(f"corpus {a.corpus} not found (pass --corpus)")
    terms = []
    with open(a.terms, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            area, zh, en = line.rstrip("\n").split("\t")
            terms.append((f"{area}-{len(terms) + 1:02d}", zh, en, pattern(en)))
    rel = {qid: [] for qid, *_ in terms}
    opener = gzip.open if a.corpus.endswith(".gz") else open
    with opener(a.corpus, "rt", encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            text = norm((p.get("title") or "") + " " + (p.get("abstract") or ""))
            for qid, _, _, pat in terms:
                if pat.search(text):
                    rel[qid].append(p["id"])
    os.makedirs(os.path.join(a.out, "qrels"), exist_ok=True)
    with open(os.path.join(a.out, "queries.jsonl"), "w", encoding="utf-8") as f:
        for qid, zh, en, _ in terms:
            f.write(json.dumps({"_id": qid, "text": zh, "english": en}, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out, "qrels", "test.tsv"), "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in rel.items():
            for d in docs:
                f.write(f"{qid}\t{d}\t1\n")
    link = os.path.join(a.out, "corpus.jsonl.gz")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(os.path.abspath(a.corpus), link)
    for qid, zh, en, _ in terms:
        print(f"{qid}\t{zh}\t{en}\t{len(rel[qid])} papers", file=sys.stderr)
    print(f"wrote {a.out}: {len(terms)} terms", file=sys.stderr)


if __name__ == "__main__":
    main()
