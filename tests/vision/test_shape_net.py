import json

import numpy as np
import pytest
from safetensors import safe_open

from limner.data.world import OBJECTS
from limner.evals.train_detector import TrainConfig, synth_crop, train
from limner.vision.shape_net import WEIGHTS, load_classifier, load_shape_net


def test_shipped_weights_are_small_and_carry_their_config():
    assert WEIGHTS.stat().st_size < 2_000_000
    with safe_open(str(WEIGHTS), framework="pt") as f:
        meta = f.metadata()
    cfg = json.loads(meta["config"])
    assert tuple(cfg["classes"]) == OBJECTS and cfg["crop"] == 32
    assert float(meta["val_acc_degraded"]) >= 0.95


def test_shipped_classifier_on_fresh_degraded_crops():
    import random

    from limner.vision.detect import DetectConfig

    rng = random.Random(12345)
    crops, labels = [], []
    for k, cls in enumerate(OBJECTS):
        for _ in range(6):
            c = synth_crop(rng, cls, True, DetectConfig())
            if c is not None:
                crops.append(c)
                labels.append(k)
    names, probs = load_classifier().predict(np.stack(crops))
    acc = np.mean([n == OBJECTS[y] for n, y in zip(names, labels, strict=True)])
    assert acc >= 0.9 and probs.shape == (len(crops),)


def test_training_script_round_trip(tmp_path):
    out = tmp_path / "net.safetensors"
    metrics = train(TrainConfig(per_class=12, val_per_class=4, epochs=3, batch=32, workers=1), out)
    # three short epochs already learn the shapes: well above chance (1/16) on held-out degraded crops
    assert metrics["val_acc_degraded"] >= 0.4, metrics
    with safe_open(str(out), framework="pt") as f:
        assert float(f.metadata()["val_acc_degraded"]) == pytest.approx(metrics["val_acc_degraded"], abs=1e-4)
    model = load_shape_net(out)
    assert model.cfg.classes == OBJECTS
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_shape_net(tmp_path / "missing.safetensors")
