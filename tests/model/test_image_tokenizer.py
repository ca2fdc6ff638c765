import torch

from limner.model.config import get_config
from limner.model.image_tokenizer import FSQ, ImageTokenizer


def test_fsq_indices_round_trip() -> None:
    fsq = FSQ((8, 5, 5, 5))
    z = torch.randn(2, 4, 3, 5) * 3
    codes, idx = fsq(z)
    assert idx.shape == (2, 3, 5)
    assert int(idx.min()) >= 0 and int(idx.max()) < 8 * 5 * 5 * 5
    assert torch.allclose(fsq.indices_to_codes(idx), codes, atol=1e-6)
    assert codes.abs().max() <= 1.0 + 1e-6


def test_fsq_passes_gradients_straight_through() -> None:
    fsq = FSQ((4, 4))
    z = torch.randn(1, 2, 2, 2, requires_grad=True)
    codes, _ = fsq(z)
    codes.sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_token_grid_and_preview_shapes() -> None:
    cfg = get_config("tiny").tokenizer
    tok = ImageTokenizer(cfg)
    x = torch.rand(2, 4, 256, 384) * 2 - 1
    codes, idx, preview, loss = tok(x)
    assert idx.shape == (2, 16, 24)  # output / 16 on each side
    assert tok.decode_preview(codes).shape == (2, 4, 128, 192)
    assert loss.ndim == 0 and loss.item() > 0


def test_fresh_tokenizer_codes_already_separate_colours_and_alpha() -> None:
    """The colour path's initialisation: flat red, green, blue, white, black and transparent patches
    get six different codes before any training (see ImageTokenizer._init_colour_path)."""
    torch.manual_seed(0)
    tok = ImageTokenizer(get_config("small").tokenizer)
    rgba = [(1, -1, -1, 1), (-1, 1, -1, 1), (-1, -1, 1, 1), (1, 1, 1, 1), (-1, -1, -1, 1), (-1, -1, -1, -1)]
    x = torch.tensor(rgba, dtype=torch.float32).view(6, 4, 1, 1).expand(6, 4, 64, 64)
    _, idx = tok.encode(x)
    assert len({int(i) for i in idx[:, 1, 1]}) == 6
