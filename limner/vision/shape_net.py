"""The shape classifier: a tiny CNN over normalised coverage crops (detect.normalised_crop).

Trained by `python -m limner.evals.train_detector` on data-engine renders degraded like a learned
decoder's output; shipped as `weights/shape_net.safetensors` with its config in the metadata and
loaded lazily, once per process, on the CPU.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from limner.data.world import OBJECTS

WEIGHTS = Path(__file__).parent / "weights" / "shape_net.safetensors"


@dataclass(frozen=True)
class ShapeNetConfig:
    """The classifier's architecture and class list; saved as JSON in the weights file's metadata."""

    crop: int = 32  # input side (1 channel coverage crop)
    width: int = 16  # channels of the first stage; doubled per stage
    convs: int = 1  # 3x3 convolutions per stage
    classes: tuple[str, ...] = field(default_factory=lambda: OBJECTS)


class ShapeNet(nn.Module):
    """(B, 1, S, S) coverage in [0, 1] -> (B, n_classes) logits. Three conv stages, each halving S
    (32 -> 16 -> 8 -> 4), then a two-layer head; about 2.6 MFLOPs per crop at the defaults."""

    def __init__(self, cfg: ShapeNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.width

        def stage(cin: int, cout: int) -> nn.Sequential:
            layers: list[nn.Module] = []
            for k in range(cfg.convs):
                layers += [nn.Conv2d(cin if k == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                           nn.ReLU()]
            return nn.Sequential(*layers, nn.MaxPool2d(2))

        self.features = nn.Sequential(stage(1, c), stage(c, 2 * c), stage(2 * c, 4 * c))
        side = cfg.crop // 8
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(4 * c * side * side, 128), nn.ReLU(),
                                  nn.Linear(128, len(cfg.classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) coverage crops -> (B, n_classes) logits (before softmax)."""
        return self.head(self.features(x))


def save_shape_net(model: ShapeNet, path: Path, extra: dict[str, str] | None = None) -> None:
    """Write the weights to a safetensors file, the config and `extra` strings in its metadata (creates the folder)."""
    meta = {"config": json.dumps(asdict(model.cfg)), **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)


class ShapeClassifier:
    """Batched CPU inference over normalised crops."""

    def __init__(self, model: ShapeNet) -> None:
        self.model = model.eval()
        self.config = model.cfg

    @torch.no_grad()
    def predict(self, crops: np.ndarray) -> tuple[list[str], np.ndarray]:
        """crops (N, S, S) float in [0, 1] -> (class names, their probabilities (N,))."""
        x = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32))[:, None]
        p = torch.softmax(self.model(x), dim=-1)
        conf, idx = p.max(dim=-1)
        return [self.config.classes[i] for i in idx.tolist()], conf.numpy()


def load_shape_net(path: Path = WEIGHTS) -> ShapeNet:
    """Build the model from the config stored in the file's metadata and load its weights."""
    if not path.is_file():
        raise FileNotFoundError(f"shape classifier weights {path} not found: "
                                "run `python -m limner.evals.train_detector`")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError(f"{path}: no 'config' in the safetensors metadata")
    raw = json.loads(meta["config"])
    cfg = ShapeNetConfig(crop=int(raw["crop"]), width=int(raw["width"]), convs=int(raw.get("convs", 1)),
                         classes=tuple(raw["classes"]))
    model = ShapeNet(cfg)
    model.load_state_dict(load_file(str(path)))
    return model


@lru_cache(maxsize=2)
def load_classifier(path: Path = WEIGHTS) -> ShapeClassifier:
    """The shipped classifier, loaded once per process."""
    return ShapeClassifier(load_shape_net(path))
