"""WIP (session 23, not landed): an English gloss view of non-English prompts from gloss.json. See the closing note."""
import json, re
from limner.safety.normalize import normalize, base_vocab
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
T = json.load(open(__file__.rsplit('/', 1)[0] + '/gloss.json', encoding='utf-8'))
words, stems, uns, phr = {}, {}, {}, {}
for lang, terms in T.items():
    for raw, en in terms.items():
        st = raw.strip().endswith('*'); t = normalize(raw.strip().rstrip('*')); en = normalize(en)
        if not t or not en: continue
        (uns if _UNSPACED.search(t) else stems if st else phr if ' ' in t else words).setdefault(t, en)
stems_l = sorted(stems.items(), key=lambda kv: -len(kv[0])); uns_l = sorted(uns.items(), key=lambda kv: -len(kv[0]))
phr_l = [(re.compile(rf"(?<!\w){re.escape(t)}(?!\w)"), en) for t, en in sorted(phr.items(), key=lambda kv: -len(kv[0]))]
EN = base_vocab()
def gloss(n):
    toks = n.split()
    if not toks: return None
    lat = [t for t in toks if len(t) >= 3 and t.isascii() and t.isalpha()]
    if not _UNSPACED.search(n) and all(t.isascii() for t in toks) and lat and sum(t in EN for t in lat) >= 0.6 * len(lat): return None
    s = n
    for t, en in uns_l:
        if t in s: s = s.replace(t, f' {en} ')
    for p, en in phr_l: s = p.sub(en, s)
    out = []
    for t in s.split():
        if t in words: out.append(words[t]); continue
        out.append(next((en for st, en in stems_l if t.startswith(st)), t))
    o = ' '.join(out); return o if o != n else None
