"""Shared fixtures: a tiny random checkpoint and an isolated limner home directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from limner.model.config import get_config
from limner.model.native import NativeModel
from limner.model.text_tokenizer import TextTokenizer


@pytest.fixture(scope="session")
def text_tokenizer() -> TextTokenizer:
    return TextTokenizer.build_default(n_samples=500)


@pytest.fixture(scope="session")
def tiny_model(text_tokenizer: TextTokenizer) -> NativeModel:
    torch.manual_seed(0)
    return NativeModel.build(get_config("tiny"), text_tokenizer)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model: NativeModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    tiny_model.save(path)
    return path


@pytest.fixture(autouse=True, scope="session")
def limner_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Provenance keys, the index and the audit log of the test session live in a temporary home."""
    home = tmp_path_factory.mktemp("limner_home")
    os.environ["LIMNER_HOME"] = str(home)
    return home
