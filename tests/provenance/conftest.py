"""Shared fixtures: a fresh data directory per test, renders in the shipped model's style, PostgreSQL."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from limner.data.sampler import sample
from limner.data.scene import render
from limner.provenance.settings import ProvenanceSettings
from limner.provenance.stage import GenerationInfo, ProvenanceStage

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def make_render(tag: str, seed: int) -> Image.Image:
    """An RGBA render of flat coloured shapes/text: exactly what the shipped model draws."""
    return render(sample(tag, random.Random(seed)).scene)


def half_size(im: Image.Image) -> Image.Image:
    """Resized to half and back (bicubic): the resize attack of the robustness table."""
    bicubic = Image.Resampling.BICUBIC
    return im.resize((im.width // 2, im.height // 2), bicubic).resize(im.size, bicubic)


def info(prompt: str = "a red circle on a white background", request_id: str = "req-test") -> GenerationInfo:
    return GenerationInfo(request_id=request_id, model="limner-test", checkpoint_sha="0f" * 32, prompt=prompt,
                          user="user-1")


FIXED_KEY = bytes(range(100, 132))  # a fixed watermark key: tests must not depend on a random draw


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> ProvenanceSettings:
    home = tmp_path_factory.mktemp("limner-home")
    (home / "watermark.key").write_bytes(FIXED_KEY)
    return ProvenanceSettings(data_dir=home, prompt_retention="hash")


@pytest.fixture(scope="module")
def stage(module_settings: ProvenanceSettings) -> Iterator[ProvenanceStage]:
    st = ProvenanceStage(module_settings)
    yield st
    st.close()


@pytest.fixture
def settings(tmp_path: Path) -> ProvenanceSettings:
    return ProvenanceSettings(data_dir=tmp_path / "home")


@pytest.fixture
def pg_table() -> Iterator[str]:
    """A unique table name in the real PostgreSQL; dropped afterwards. Skips if the server is down."""
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        pytest.skip(f"PostgreSQL at {PG_URL} is not reachable: {e}")
    name = f"t_prov_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as db:
        db.execute(f"DROP TABLE IF EXISTS {name}")
