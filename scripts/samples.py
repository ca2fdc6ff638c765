"""Copy one sample image per tag from a `limner eval generation` output into docs/samples/.

    .venv/bin/python scripts/samples.py EVAL_DIR [--out docs/samples] [--per-tag 2]

Writes the images and a README.md listing each image's prompt and whether the scorer passed it,
so a reader sees what the shipped model draws, failures included.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("eval_dir", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/samples"))
    ap.add_argument("--per-tag", type=int, default=2)
    args = ap.parse_args()
    rows = [json.loads(x) for x in (args.eval_dir / "results.jsonl").read_text().splitlines() if x.strip()]
    report = json.loads((args.eval_dir / "report.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()
    picked: dict[str, list[dict]] = {}
    for r in rows:
        lst = picked.setdefault(r["tag"], [])
        if r["sample"] == 0 and len(lst) < args.per_tag:
            lst.append(r)
    lines = ["# Samples of the shipped model", "",
             f"From `limner eval generation` (checkpoint `{report.get('checkpoint', '')[:16]}…`, "
             f"overall {report.get('overall', 0):.3f}); the first sample of the first prompts of each tag, "
             "passed or not. Regenerate with `scripts/samples.py EVAL_DIR`.", "",
             "| image | tag | prompt | scorer |", "| --- | --- | --- | --- |"]
    for tag, lst in sorted(picked.items()):
        for r in lst:
            name = f"{tag}_{r['record']:04d}.png"
            shutil.copy(args.eval_dir / "images" / r["image"], args.out / name)
            verdict = "pass" if r.get("correct") else "fail: " + "; ".join(r.get("reasons", []))[:120]
            prompt = r["prompt"].replace("|", "\\|")
            lines.append(f"| ![{tag}]({name}) | {tag} | {prompt} | {verdict} |")
    (args.out / "README.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {sum(len(v) for v in picked.values())} samples to {args.out}")


if __name__ == "__main__":
    main()
