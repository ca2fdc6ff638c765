import torch

from limner.model.layers import ChannelNorm, ResBlock


def test_channel_norm_keeps_the_colour_of_a_flat_image() -> None:
    # A flat image's colour is its spatial mean; a norm over space (GroupNorm) would erase it.
    n = ChannelNorm(3)
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    blue = torch.tensor([-1.0, -1.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 8, 8)
    assert not torch.allclose(n(red), n(blue))
    x = torch.randn(2, 3, 5, 5)
    y = n(x)
    assert torch.allclose(y.mean(1), torch.zeros(2, 5, 5), atol=1e-5)


def test_resblock_starts_as_identity() -> None:
    blk = ResBlock(8, emb_dim=4)
    x = torch.randn(2, 8, 6, 6)
    assert torch.allclose(blk(x, torch.randn(2, 4)), x)
