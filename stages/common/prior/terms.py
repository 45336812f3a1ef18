"""The explicit energy terms of the physical prior, on point sequences x [F, N, 3] (metres, y up).

Every term is a mean of squared lengths in metres (or radians), so that the weights in `PriorWeights`
compare like with like. Masks (airborne, touching the ground) come from the current estimate, detached.
"""

from __future__ import annotations

import torch

INTENSITY_WORDS: dict[str, float] = {
    # words that ask for calmer motion
    "slow": 0.6, "slowly": 0.6, "gently": 0.6, "gentle": 0.6, "calm": 0.6, "calmly": 0.6, "drifts": 0.7,
    "floats": 0.7, "lazily": 0.5, "softly": 0.7, "still": 0.4, "rests": 0.4,
    # words that ask for livelier motion
    "fast": 1.5, "quickly": 1.5, "rapidly": 1.6, "runs": 1.4, "sprints": 1.7, "throws": 1.4, "kicks": 1.4,
    "jumps": 1.3, "bounces": 1.2, "crashes": 1.6, "explodes": 1.8, "violently": 1.8, "hard": 1.3,
}


def intensity_from_text(prompt: str) -> float:
    """Speed factor the prompt asks for (1 = as observed): the geometric mean of the factors of its words."""
    words = [w.strip(".,;:!?\"'()").lower() for w in prompt.split()]
    factors = [INTENSITY_WORDS[w] for w in words if w in INTENSITY_WORDS]
    if not factors:
        return 1.0
    return float(torch.tensor(factors).log().mean().exp())


def robust_data(x: torch.Tensor, obs: torch.Tensor, conf: torch.Tensor, scale: float) -> torch.Tensor:
    """Cauchy distance s^2 log(1 + r^2 / s^2) of x to obs [F, N, 3], weighted by conf [F, N]: quadratic near
    the observation, growing only logarithmically for outliers (a hovering or sunken frame)."""
    r2 = ((x - obs) ** 2).sum(-1)  # [F, N]
    return (conf * scale**2 * torch.log1p(r2 / scale**2)).mean()


def free_flight(height: torch.Tensor, contact: float) -> torch.Tensor:
    """Frames [F, N] whose neighbourhood t-1..t+1 surely holds no ground contact: every height [F, N] exceeds
    the vertical distance covered in one frame (plus `contact`), so no bounce can hide between the frames."""
    air = torch.zeros_like(height, dtype=torch.bool)
    if height.shape[0] < 3:
        return air
    step = (height[1:] - height[:-1]).abs()  # [F-1, N]
    reach = torch.maximum(step[1:], step[:-1]) + contact  # [F-2, N]
    low = torch.minimum(torch.minimum(height[2:], height[1:-1]), height[:-2])
    air[1:-1] = low > reach
    return air


def jerk(x: torch.Tensor, impact: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared third difference over time of x [F, N, 3], leaving out the windows around impact
    frames (impact [F, N] bool): a bounce is a real jump in velocity, not noise to smooth away."""
    if x.shape[0] < 4:
        return x.new_zeros(())
    d3 = x[3:] - 3 * x[2:-1] + 3 * x[1:-2] - x[:-3]  # [F-3, N, 3]
    if impact is None:
        return (d3**2).sum(-1).mean()
    keep = (~(impact[1:-2] | impact[2:-1])).to(x.dtype)  # [F-3, N]
    return (keep * (d3**2).sum(-1)).sum() / keep.sum().clamp(min=1)


def impacts(height: torch.Tensor, g_dt2: float) -> torch.Tensor:
    """Frames [F, N] where a height sequence [F, N] turns upwards far faster than any noise could (second
    difference above 3 g dt^2): a bounce off the ground."""
    out = torch.zeros_like(height, dtype=torch.bool)
    if height.shape[0] >= 3:
        out[1:-1] = (height[2:] - 2 * height[1:-1] + height[:-2]) > 3 * g_dt2
    return out


def ballistic(x: torch.Tensor, airborne: torch.Tensor, g_dt2: float) -> torch.Tensor:
    """Mean squared gap between the second difference of x [F, N, 3] and free fall (0, -g dt^2, 0), over
    frames in free flight (airborne [F, N] bool, from `free_flight`)."""
    if x.shape[0] < 3:
        return x.new_zeros(())
    d2 = x[2:] - 2 * x[1:-1] + x[:-2]  # [F-2, N, 3]
    fall = torch.tensor([0.0, -g_dt2, 0.0], dtype=x.dtype)
    mask = airborne[1:-1].to(x.dtype)  # [F-2, N]
    return (mask * ((d2 - fall) ** 2).sum(-1)).sum() / mask.sum().clamp(min=1)


def penetration(height: torch.Tensor) -> torch.Tensor:
    """Mean squared depth below 0 of heights above the ground [F, N] (negative = inside the ground)."""
    return (torch.relu(-height) ** 2).mean()


def skating(x: torch.Tensor, touching: torch.Tensor) -> torch.Tensor:
    """Mean squared horizontal step (x, z) of points touching the ground in consecutive frames."""
    if x.shape[0] < 2:
        return x.new_zeros(())
    step = x[1:, :, [0, 2]] - x[:-1, :, [0, 2]]  # [F-1, N, 2]
    mask = (touching[1:] & touching[:-1]).to(x.dtype)
    return (mask * (step**2).sum(-1)).sum() / mask.sum().clamp(min=1)


def speed_gap(x: torch.Tensor, target_step: float) -> torch.Tensor:
    """Squared relative gap between the mean per-frame step length of x [F, N, 3] and target_step (m)."""
    if x.shape[0] < 2 or target_step <= 1e-6:
        return x.new_zeros(())
    step = torch.sqrt(((x[1:] - x[:-1]) ** 2).sum(-1) + 1e-12).mean()
    return ((step - target_step) / target_step) ** 2


def mean_step(x: torch.Tensor) -> float:
    """Median per-frame step length (m) of x [F, N, 3]: the speed the observation shows."""
    if x.shape[0] < 2:
        return 0.0
    return float(((x[1:] - x[:-1]) ** 2).sum(-1).sqrt().median())
