"""`limner generate --image/--mask/--think/--best-of` and `limner chat`: bad input is named, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


def limner(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "limner.cli.main", *args], capture_output=True, text=True,
                          timeout=600, input=stdin)


@pytest.mark.parametrize(("args", "message"), [
    (["generate", "make the star green"], "no image in context"),
    (["generate", "a star", "--mask", "m.png"], "--mask needs --image"),
    (["generate", "make it blue", "--image", "/nonexistent/in.png"], "'/nonexistent/in.png' does not exist"),
    (["generate", "a star", "--best-of", "9"], "--best-of must be between 1 and 8, got 9"),
])
def test_bad_arguments(args: list[str], message: str) -> None:
    r = limner(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_bad_mask_through_the_cli(tiny_checkpoint: Path, tmp_path: Path) -> None:
    img, mask = tmp_path / "in.png", tmp_path / "m.png"
    Image.new("RGB", (256, 256), "white").save(img)
    Image.new("RGB", (256, 256), "white").save(mask)
    r = limner("generate", "a blue star", "--image", str(img), "--mask", str(mask), "--checkpoint",
               str(tiny_checkpoint), "-o", str(tmp_path / "o.png"))
    assert r.returncode == 2 and "no alpha channel" in r.stderr, r.stderr


def test_chat_refuses_an_edit_before_any_image(tiny_checkpoint: Path, tmp_path: Path) -> None:
    r = limner("chat", "--checkpoint", str(tiny_checkpoint), "--out-dir", str(tmp_path / "c"),
               stdin="make the star green\n/quit\n")
    assert r.returncode == 0 and "no image in context yet" in r.stdout, r.stdout + r.stderr
