#!/usr/bin/env python3
"""Fusion study over saved legs (BENCHMARKS.md, "Query translation"): nDCG@10 of min-max
convex, z-score convex, RRF and linear-rank fusion at alpha 0.3-0.6, with the engine's
coverage weighting, for each collection whose legs file exists.

    for d in zh/arxiv-zh2en beir/scifact beir/cranfield zh/csl-title2abstract; do
      academichub eval --dataset ../shared/datasets/$d --mode hybrid --model me5-small \
        --legs-file LEGS_DIR/legs-$(basename $d).jsonl --json >/dev/null
    done
    scripts/bench/fusion_study.py LEGS_DIR [DATASETS]

Needs pytrec_eval-terrier (`pip install pytrec_eval-terrier==0.5.11`).
"""
import json, sys, statistics
import pytrec_eval

LEGS = sys.argv[1] if len(sys.argv) > 1 else "."
DATASETS = sys.argv[2] if len(sys.argv) > 2 else "../shared/datasets"
sets = {'arxiv-zh2en':'zh/arxiv-zh2en','scifact':'beir/scifact','cranfield':'beir/cranfield','csl-title2abstract':'zh/csl-title2abstract'}
def qrels(d):
    q={}
    for i,l in enumerate(open(f'{DATASETS}/{d}/qrels/test.tsv')):
        c=l.rstrip('\n').split('\t')
        if i==0 and c[0]=='query-id': continue
        q.setdefault(c[0],{})[c[1]]=int(c[2])
    return {k:v for k,v in q.items() if any(r>=1 for r in v.values())}
def ndcg(run, qr):
    ev=pytrec_eval.RelevanceEvaluator(qr,{'ndcg_cut.10'})
    res=ev.evaluate({q:run.get(q,{}) for q in qr})
    return sum(res[q]['ndcg_cut_10'] for q in qr)/len(qr)
def minmax(l):
    if not l: return {}
    s=[x[1] for x in l]; lo,hi=min(s),max(s)
    return {d:((v-lo)/(hi-lo) if hi>lo else 1.0) for d,v in l}
def zs(l):
    if not l: return {}, 0
    s=[x[1] for x in l]; mu=statistics.mean(s); sd=statistics.pstdev(s) or 1.0
    return {d:(v-mu)/sd for d,v in l}, (min(s)-mu)/sd
def fuse(l, method, a):
    b, dn, c = l['bm25'], l['dense'], l['coverage']
    wb, wd = (1-a)*c, a + (1-a)*(1-c)
    out={}
    if method=='minmax':
        for d,v in minmax(b).items(): out[d]=out.get(d,0)+wb*v
        for d,v in minmax(dn).items(): out[d]=out.get(d,0)+wd*v
    elif method=='z':
        zb,fb=zs(b); zd,fd=zs(dn)
        for d in set(zb)|set(zd):
            out[d]=wb*zb.get(d,fb)+wd*zd.get(d,fd)
    elif method=='rrf':
        for r,(d,v) in enumerate(b): out[d]=out.get(d,0)+2*wb/(60+r+1)
        for r,(d,v) in enumerate(dn): out[d]=out.get(d,0)+2*wd/(60+r+1)
    elif method=='rank':  # linear rank score over depth 100
        n=100
        for r,(d,v) in enumerate(b): out[d]=out.get(d,0)+wb*(1-r/n)
        for r,(d,v) in enumerate(dn): out[d]=out.get(d,0)+wd*(1-r/n)

    return out
res={}
for name,d in sets.items():
    try: legs=[json.loads(x) for x in open(f'{LEGS}/legs-{name}.jsonl')]
    except FileNotFoundError: continue
    qr=qrels(d)
    row={}
    row['bm25']=ndcg({l['qid']:{x[0]:x[1] for x in l['bm25'][:100]} for l in legs},qr)
    row['dense']=ndcg({l['qid']:{x[0]:x[1] for x in l['dense'][:100]} for l in legs},qr)
    for m in ['minmax','z','rrf','rank']:
        for a in [0.3,0.4,0.5,0.6]:
            run={l['qid']:fuse(l,m,a) for l in legs}
            row[f'{m}{a}']=ndcg(run,qr)
    res[name]=row
keys=list(next(iter(res.values())).keys())
print('method'.ljust(10),' '.join(n[:9].rjust(9) for n in res), ' min(h-best)')
for k in keys:
    vals=[res[n][k] for n in res]
    gap=min(res[n][k]-max(res[n]['bm25'],res[n]['dense']) for n in res)
    print(k.ljust(10),' '.join(f'{v:9.4f}' for v in vals), f'{gap:+.4f}')
