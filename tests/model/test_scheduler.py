"""The flow-matching Euler scheduler: its time grid, its step, and the errors that name bad values."""

from __future__ import annotations

import pytest
import torch

from limner.model.scheduler import FlowMatchEulerScheduler, sample_train_t


def test_timesteps_run_from_noise_to_image_and_increase() -> None:
    s = FlowMatchEulerScheduler()
    t = s.set_timesteps(4)
    assert torch.allclose(t, torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))
    assert s.timesteps is t


def test_shift_spends_more_steps_near_the_noise_end() -> None:
    plain = FlowMatchEulerScheduler().set_timesteps(8)
    shifted = FlowMatchEulerScheduler(shift=3.0).set_timesteps(8)
    assert shifted[0] == 0 and shifted[-1] == 1
    assert bool((shifted[1:-1] < plain[1:-1]).all())  # every inner time moves towards t = 0
    assert bool((shifted[1:] > shifted[:-1]).all())
    # u / (u + 3 (1 - u)) at u = 1/2 is 1/4
    assert float(shifted[4]) == pytest.approx(0.25)


def test_steps_with_the_exact_clean_prediction_reach_the_image() -> None:
    """Predicting x1 exactly, each Euler step lands on the straight path x_t = t x1 + (1 - t) x0."""
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 4, 4, generator=g)
    s = FlowMatchEulerScheduler(shift=2.0)
    ts = s.set_timesteps(5)
    x = x0
    for i in range(5):
        x = s.step(x1, i, x)
        assert torch.allclose(x, float(ts[i + 1]) * x1 + (1 - float(ts[i + 1])) * x0, atol=1e-5)
    assert torch.allclose(x, x1, atol=1e-5)


def test_one_step_from_noise_is_the_prediction() -> None:
    s = FlowMatchEulerScheduler()
    s.set_timesteps(1)
    x0, pred = torch.zeros(1, 2), torch.tensor([[0.3, -0.7]])
    assert torch.allclose(s.step(pred, 0, x0), pred)


def test_velocity_divisor_is_floored_near_t_one() -> None:
    s = FlowMatchEulerScheduler(min_one_minus_t=0.5)
    s.timesteps = torch.tensor([0.9, 1.0])
    x_t, pred = torch.zeros(1), torch.ones(1)
    # v = (1 - 0) / max(0.1, 0.5) = 2; x = 0 + 0.1 * 2
    assert float(s.step(pred, 0, x_t)) == pytest.approx(0.2)


@pytest.mark.parametrize("shift", [0.0, -1.0])
def test_bad_shift_is_named(shift: float) -> None:
    with pytest.raises(ValueError, match=f"shift must be > 0, got {shift}"):
        FlowMatchEulerScheduler(shift=shift)


def test_bad_step_count_is_named() -> None:
    with pytest.raises(ValueError, match="num_steps must be >= 1, got 0"):
        FlowMatchEulerScheduler().set_timesteps(0)


def test_step_before_set_timesteps_or_past_the_end_is_refused() -> None:
    s = FlowMatchEulerScheduler()
    with pytest.raises(IndexError, match="call set_timesteps first"):
        s.step(torch.zeros(1), 0, torch.zeros(1))
    s.set_timesteps(3)
    with pytest.raises(IndexError, match="step index 3 outside"):
        s.step(torch.zeros(1), 3, torch.zeros(1))


def test_training_times_are_logit_normal_inside_zero_one() -> None:
    t = sample_train_t(20_000, torch.Generator().manual_seed(1))
    assert t.shape == (20_000,) and bool(((t > 0) & (t < 1)).all())
    assert float(t.mean()) == pytest.approx(0.5, abs=0.01)  # symmetric about 1/2
    logit = torch.log(t / (1 - t))
    assert float(logit.std()) == pytest.approx(1.0, abs=0.03)
    again = sample_train_t(20_000, torch.Generator().manual_seed(1))
    assert torch.equal(t, again)
