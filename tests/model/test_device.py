import pytest
import torch

from limner.engine.decode import SamplingParams, sample_tokens
from limner.model.config import get_config
from limner.model.device import resolve_device
from limner.model.native import NativeModel

CUDA = torch.cuda.is_available()


def test_names_resolve_or_are_refused_by_name() -> None:
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ValueError, match="unknown device 'cpu:1'"):
        resolve_device("cpu:1")
    if not CUDA:
        assert resolve_device("auto") != "cuda"
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_a_seed_draws_the_same_tokens_on_the_gpu_as_on_the_cpu() -> None:
    torch.manual_seed(0)
    m = NativeModel.build(get_config("tiny"))
    sp = SamplingParams(layout_tries=1)
    cpu = sample_tokens(m, ["a red circle"], (256, 256), sp, torch.Generator().manual_seed(3)).codes
    gpu = sample_tokens(m.to("cuda"), ["a red circle"], (256, 256), sp, torch.Generator().manual_seed(3)).codes
    assert gpu.device.type == "cpu"  # sampling's bookkeeping stays on the CPU
    assert (gpu == cpu).float().mean() > 0.95  # the prior's float rounding differs across devices, rarely a draw
