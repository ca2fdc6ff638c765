"""Euler sampler for rectified-flow (flow matching) with clean-image prediction.

Convention: x_t = t * x1 + (1 - t) * x0, with x0 ~ N(0, I) noise at t = 0 and the image x1 at t = 1.
The network predicts x1; the velocity is v = (x1_hat - x_t) / (1 - t). Predicting the clean image
keeps few-step sampling stable when the conditioning nearly determines the output, as it does
for a decoder conditioned on image tokens.

The `set_timesteps` / `step` contract follows diffusers' schedulers.
"""

from __future__ import annotations

import torch


class FlowMatchEulerScheduler:
    """Euler steps over the times of `set_timesteps(n)`; `min_one_minus_t` floors the velocity's 1 - t
    divisor, so steps near t = 1 stay finite."""

    def __init__(self, shift: float = 1.0, min_one_minus_t: float = 0.02) -> None:
        if shift <= 0:
            raise ValueError(f"shift must be > 0, got {shift}")
        self.shift = shift
        self.eps = min_one_minus_t
        self.timesteps: torch.Tensor = torch.empty(0)

    def set_timesteps(self, num_steps: int) -> torch.Tensor:
        """Times t_0 = 0 < t_1 < ... < t_N = 1; `shift` > 1 spends more steps near the noise end."""
        if num_steps < 1:
            raise ValueError(f"num_steps must be >= 1, got {num_steps}")
        u = torch.linspace(0.0, 1.0, num_steps + 1)
        self.timesteps = u / (u + self.shift * (1 - u))  # time shift, identity at shift=1
        return self.timesteps

    def step(self, x1_pred: torch.Tensor, i: int, x_t: torch.Tensor) -> torch.Tensor:
        """One Euler step from timesteps[i] to timesteps[i + 1]."""
        if not 0 <= i < len(self.timesteps) - 1:
            raise IndexError(f"step index {i} outside [0, {len(self.timesteps) - 1}); call set_timesteps first")
        t, t_next = float(self.timesteps[i]), float(self.timesteps[i + 1])
        v = (x1_pred - x_t) / max(1.0 - t, self.eps)
        return x_t + (t_next - t) * v


def sample_train_t(batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training times, logit-normal (SD3) so mid-range t, where denoising is hardest, gets more weight."""
    return torch.sigmoid(torch.randn(batch, generator=generator) * 1.0)
