import subprocess
import sys

import pytest

from limner.model.config import MODEL_SIZES, get_config
from limner.model.native import NativeModel
from limner.model.sizes import TOKENS_PER_IMAGE, size_cost


def test_counts_match_the_built_model_exactly() -> None:
    cfg = get_config("tiny")
    m = NativeModel.build(cfg)
    c = size_cost(cfg, m.text)
    assert c.prior_params == sum(p.numel() for p in m.prior.parameters())
    assert c.tokenizer_params == sum(p.numel() for p in m.tokenizer.parameters())
    assert c.decoder_params == sum(p.numel() for p in m.decoder.parameters())
    assert 0 < c.prior_body_params < c.prior_params


def test_flops_and_memory_follow_the_counts() -> None:
    small = size_cost(get_config("small"))
    total = small.prior_params + small.tokenizer_params + small.decoder_params
    assert small.train_memory_gb == pytest.approx(total * 16 / 1e9)
    assert small.weights_fp16_mb == pytest.approx(total * 2 / 1e6)
    # at least 6 FLOPs per body parameter per token, and not absurdly more
    assert 6 * small.prior_body_params * TOKENS_PER_IMAGE < small.train_gflop_per_image * 1e9
    assert small.train_gflop_per_image * 1e9 < 6 * small.prior_params * TOKENS_PER_IMAGE * 2


def test_the_registry_reaches_about_a_billion_parameters_in_order() -> None:
    costs = [size_cost(get_config(n)) for n in ("small", "base", "large", "xl")]
    assert [c.prior_params for c in costs] == sorted(c.prior_params for c in costs)
    assert 0.8e9 < costs[-1].prior_params < 1.5e9


def test_list_sizes_prints_every_size() -> None:
    r = subprocess.run([sys.executable, "-m", "limner.cli.main", "train", "--list-sizes"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "GFLOP/img" in r.stdout, r.stderr
    for name in MODEL_SIZES:
        assert f"\n{name} " in "\n" + r.stdout
    r = subprocess.run([sys.executable, "-m", "limner.cli.main", "train"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--list-sizes" in r.stderr
