#!/usr/bin/env python3
"""Per-query leg confidence for hybrid fusion, over saved legs (the same legs files as
scripts/bench/fusion_study.py): min-max convex fusion at alpha 0.5 with coverage weighting,
where each leg's weight is also scaled by a confidence measured on that query's own scores.

Confidences tried (s = the leg's top-100 scores, best first):
  peak  (s1 - mean(s1..s10)) / (s1 - s100)   how far the best stands out of the top ten
  nqc   std(s1..s100) / |mean(s1..s100)|     normalized query commitment (Shtok et al.)
  gap   (s1 - s10) / (s1 - s100)             the top ten's share of the score range

    scripts/bench/fusion_confidence.py LEGS_DIR [DATASETS]
Prints nDCG@10 per collection and the worst (hybrid - better leg). Needs pytrec_eval-terrier.
"""
import json, sys, statistics
import pytrec_eval

LEGS = sys.argv[1] if len(sys.argv) > 1 else "."
DATASETS = sys.argv[2] if len(sys.argv) > 2 else "../shared/datasets"
SETS = {'arxiv-zh2en': 'zh/arxiv-zh2en', 'scifact': 'beir/scifact', 'cranfield': 'beir/cranfield',
        'csl-title2abstract': 'zh/csl-title2abstract'}


def qrels(d):
    q = {}
    for i, l in enumerate(open(f'{DATASETS}/{d}/qrels/test.tsv')):
        c = l.rstrip('\n').split('\t')
        if i == 0 and c[0] == 'query-id':
            continue
        q.setdefault(c[0], {})[c[1]] = int(c[2])
    return {k: v for k, v in q.items() if any(r >= 1 for r in v.values())}


def ndcg(run, qr):
    ev = pytrec_eval.RelevanceEvaluator(qr, {'ndcg_cut.10'})
    res = ev.evaluate({q: run.get(q, {}) for q in qr})
    return sum(res[q]['ndcg_cut_10'] for q in qr) / len(qr)


def minmax(l):
    if not l:
        return {}
    s = [x[1] for x in l]
    lo, hi = min(s), max(s)
    return {d: ((v - lo) / (hi - lo) if hi > lo else 1.0) for d, v in l}


def conf(l, kind):
    s = [x[1] for x in l[:100]]
    if len(s) < 2:
        return 0.0
    rng = s[0] - s[-1]
    if kind == 'none':
        return 1.0
    if rng <= 0:
        return 0.0
    if kind == 'peak':
        return (s[0] - statistics.mean(s[:10])) / rng
    if kind == 'gap':
        return (s[0] - s[min(9, len(s) - 1)]) / rng
    if kind == 'nqc':
        m = abs(statistics.mean(s)) or 1.0
        return statistics.pstdev(s) / m
    raise ValueError(kind)


def fuse(l, a, kind, power):
    b, dn, c = l['bm25'], l['dense'], l['coverage']
    wb, wd = (1 - a) * c, a + (1 - a) * (1 - c)
    if kind != 'none' and b and dn:
        cb, cd = conf(b, kind), conf(dn, kind)
        # Relative confidence of the legs on this query; power 0 = plain fusion.
        if cb + cd > 0:
            fb, fd = (2 * cb / (cb + cd)) ** power, (2 * cd / (cb + cd)) ** power
            wb, wd = wb * fb, wd * fd
    out = {}
    for d, v in minmax(b).items():
        out[d] = out.get(d, 0) + wb * v
    for d, v in minmax(dn).items():
        out[d] = out.get(d, 0) + wd * v
    return out


res = {}
for name, d in SETS.items():
    try:
        legs = [json.loads(x) for x in open(f'{LEGS}/legs-{name}.jsonl')]
    except FileNotFoundError:
        continue
    qr = qrels(d)
    row = {'bm25': ndcg({l['qid']: {x[0]: x[1] for x in l['bm25'][:100]} for l in legs}, qr),
           'dense': ndcg({l['qid']: {x[0]: x[1] for x in l['dense'][:100]} for l in legs}, qr)}
    for kind in ['none', 'peak', 'gap', 'nqc']:
        for power in ([1.0] if kind == 'none' else [0.5, 1.0, 2.0]):
            run = {l['qid']: fuse(l, 0.5, kind, power) for l in legs}
            row[f'{kind}^{power}'] = ndcg(run, qr)
    res[name] = row
    print(f'{name}: {len(legs)} queries', file=sys.stderr)
keys = list(next(iter(res.values())).keys())
print('method'.ljust(10), ' '.join(n[:9].rjust(9) for n in res), '   mean  min(h-best)')
for k in keys:
    vals = [res[n][k] for n in res]
    gap = min(res[n][k] - max(res[n]['bm25'], res[n]['dense']) for n in res)
    print(k.ljust(10), ' '.join(f'{v:9.4f}' for v in vals), f'{statistics.mean(vals):7.4f}', f'{gap:+.4f}')
