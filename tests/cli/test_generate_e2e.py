"""`limner generate` as a user runs it, with the shipped model, the real safety stack and provenance."""

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from limner.engine.generator import default_checkpoint


def limner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "limner.cli.main", *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_shipped_checkpoint_is_in_the_package() -> None:
    assert default_checkpoint().is_file()
    assert default_checkpoint().stat().st_size < 100e6


def test_generate_writes_signed_watermarked_images(tmp_path: Path) -> None:
    args = ("generate", "two blue stars and a sign that says 'HI'", "--n", "2", "--seed", "3", "--quality", "low",
            "-o", "pics/star.png", "--json")
    r = limner(*args, cwd=tmp_path)
    assert r.returncode == 2  # the output directory does not exist yet: a clear error, nothing written
    (tmp_path / "pics").mkdir()
    r = limner(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["paths"] == ["pics/star-1.png", "pics/star-2.png"]
    for p in out["paths"]:
        im = Image.open(tmp_path / p)
        assert im.size == (256, 256)
    v = limner("verify", "pics/star-1.png", "--json", cwd=tmp_path)
    assert v.returncode == 0, v.stderr
    res = json.loads(v.stdout)
    assert res["verdict"] == "made_by_limner"
    assert res["watermark"]["found"] and res["watermark"]["payload"] == out["payloads"][0]


def test_generate_plain_output_prints_the_path(tmp_path: Path) -> None:
    r = limner(
        "generate",
        "a heart",
        "--background",
        "transparent",
        "--format",
        "webp",
        "--size",
        "256x384",
        "--seed",
        "1",
        "--quality",
        "low",
        "-o",
        "heart",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "heart.webp"
    im = Image.open(tmp_path / "heart.webp")
    assert im.size == (256, 384) and im.mode == "RGBA"
