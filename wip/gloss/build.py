import json, glob, re, collections
ZWNJ = "\u200c"
ORDER = "es fr de pt it nl sv pl cs ro ru uk el tr ar fa he hi hi-Latn bn ur ta id ms tl vi th ja ja-Latn ko zh sw".split()
data = collections.OrderedDict((l, {}) for l in ORDER)
conflicts = []
cur = None
for fn in sorted(glob.glob("/tmp/gloss/src/*.txt")):
    for line in open(fn, encoding="utf-8"):
        line = line.strip()
        if not line: continue
        if line.startswith("@@"):
            cur = line[2:].strip(); assert cur in data, cur; continue
        for grp in line.split(" ; "):
            grp = grp.strip()
            if not grp: continue
            assert " = " in grp, (cur, grp)
            keys, val = grp.rsplit(" = ", 1)
            val = val.strip().lower()
            for k in keys.split("|"):
                k = k.strip()
                if cur != "tr": k = k.lower()
                if not k: continue
                variants = [k]
                if cur == "fa" and "~" in k:
                    variants = [k.replace("~", ZWNJ), k.replace("~", " ")]
                if cur == "ko" and k.endswith("*"):
                    variants = [k, k[:-1]]
                for v in variants:
                    d = data[cur]
                    if v in d and d[v] != val:
                        conflicts.append((cur, v, d[v], val))
                    d[v] = val

REMOVE = {
 "es": "porn* montaje animado maría hierba coca perico packs".split(),
 "fr": ["porn*", "cru", "coke", "shit"],
 "de": ["blau", "crystal", "teen"],
 "pt": ["presunto", "pó", "berro", "erva", "cvv", "montagem"],
 "it": ["erba", "canna", "tg", "minore", "botte"],
 "nl": ["gif", "coke", "kruis"],
 "sv": ["lik", "hot", "full och", "utmanande", "gräs att röka"],
 "pl": ["głos", "koka", "motylki", "tłuc", "dokument"],
 "cs": ["kozy", "hmyz", "tráva", "dokument"],
 "ro": ["face", "sugar", "criminal", "beat", "iarbă", "gândaci", "lamă"],
 "ru": ["тараканы", "убит*"],
 "el": ["κόκα", "τολμηρό", "αυτοκαταστροφικ"],
 "tr": ["met", "nasıl yapılır?", "vurmak için"],
 "ar": ["عمل", "سوي", "فرد", "دليل", "نصب", "سم", "صورة عارية ل", "تشطيب", "شفرة", "تركيب"],
 "fa": ["آلت"],
 "he": ["נורה"],
 "hi": ["बाल", "ब्राउन शुगर"],
 "hi-Latn": ["hot", "firing", "bam", "stan", "kala", "bomb", "brown sugar", "smack", "chura", "lash", "tunn", "fanda", "smuggling"],
 "bn": ["মাই", "আইস", "ফাঁস"],
 "ur": ["زیادتی", "تیاری"],
 "ta": ["சுடு", "பூச்சிகள்", "பரப்பு"],
 "id": ["hot", "memilih", "od", "kecoak"],
 "ms": ["pasang", "memasang", "mengeluarkan", "lipas", "parut"],
 "tl": ["batang", "taon", "bold", "scandal", "bar", "galit", "damo", "ari", "alak na wine"],
 "vi": ["đá", "giả", "tượng", "nhạy cảm"],
 "sw": ["kupiga"],
 "th": ["ซ้อม", "ประกอบ", "สุรา", "ไอเอส", "กวาดล้าง"],
 "ja": ["エッチ", "内臓", "刺され", "断食", "ゴキブリ", "デマ"],
 "ja-Latn": "nudo ero chichi seiki itai shitai sasu boko od yoji jidou boushi heiki jishi happou joji".split(),
 "ko": ["총", "떨*", "떨", "털다", "털어*", "털어", "취한", "취해서", "성전", "주류*", "주류", "송장", "토막*", "토막", "보도*", "보도", "회화*", "회화", "성적", "보지", "자지", "남아", "성교*"],
 "zh": ["白粉"],
}
SET = {
 "pl": {"obraz": "picture", "mefedron": "drug", "amfetamina": "drug"},
 "cs": {"obraz": "picture"},
 "ro": {"clor": "chlorine"},
 "ru": {"убитый": "killed", "убитая": "killed", "убиты": "killed", "убитого": "killed", "мефедрон": "drug", "меф": "drug", "хлор": "chlorine"},
 "uk": {"хлор": "chlorine", "мефедрон": "drug"},
 "el": {"αυτοκαταστροφικ*": "self-harm"},
 "sv": {"amfetamin": "drug"},
 "ar": {"الكلور": "chlorine"},
 "ur": {"تشدد": "violence"},
 "id": {"mutilasi": "mutilate"},
 "ms": {"parut luka": "scars"},
 "vi": {"ảnh nhạy cảm": "explicit"},
 "ja-Latn": {"juudai": "teenager", "seizou": "manufacture"},
 "ko": {"소주*": "alcohol", "소주": "alcohol", "성교": "sex", "토막 살인": "mutilate"},
 "zh": {"恋童": "pedophilia", "戀童": "pedophilia", "做法": "how to", "宣传海报": "poster", "宣傳海報": "poster"},
}
for l, ks in REMOVE.items():
    for k in ks:
        if k not in data[l]: print("REMOVE MISSING", l, k)
        data[l].pop(k, None)
for l, kv in SET.items():
    data[l].update(kv)

for c in conflicts: print("CONFLICT", c)
# checks
for l, d in data.items():
    for k, v in d.items():
        assert k == k.strip() and v, (l, k)
        if k.endswith("*"):
            stem = k[:-1]
            if l != "ko" and len(stem) < 5: print("SHORT STEM", l, k)
            if l in ("zh", "ja", "th"): print("STEM IN SUBSTRING LANG", l, k)
        if l in ("zh", "ja", "th") and len(k) < 2: print("SINGLE CHAR", l, k, v)
        if l != "tr" and k != k.lower(): print("NOT LOWER", l, k)
import os
os.makedirs("/tmp/gloss", exist_ok=True)
with open("/tmp/gloss/gloss.json", "w", encoding="utf-8") as f:
    json.dump(data, f, ensure_ascii=False, indent=1)
d2 = json.load(open("/tmp/gloss/gloss.json", encoding="utf-8"))
tot = 0
for l in ORDER:
    print(l, len(d2[l])); tot += len(d2[l])
print("total", tot)
