"""Zero-initialised extensions are exact, Inner-Guidance follows its formula, the judge is differentiable."""

from __future__ import annotations

import copy

import pytest
import torch

from physflow.models.inner_guidance import InnerGuidance, inner_guidance_velocity, sample_inner_guidance
from physflow.models.physics_judge import EmbeddedPhysicsJudge, judge_losses
from physflow.models.revision_unet import MaskConditionedUNet, TinyUNetSize, build_tiny_unet, extend_for_masks
from physflow.models.video_dit import JointDiT, TinyDiTSize, build_tiny_dit, extend_for_flow
from physflow.models.wisa import PHENOMENA

pytestmark = pytest.mark.timeout(120)


def _perturb(module: torch.nn.Module) -> None:
    """Give every weight a non-trivial value (diffusers zero-inits some output layers)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.05)


def test_videojam_flow_extension_is_exact_at_step_0():
    dit = build_tiny_dit(12, TinyDiTSize())
    _perturb(dit)
    plain = JointDiT(copy.deepcopy(dit), appearance_channels=12, flow_channels=0).eval()
    joint = JointDiT(extend_for_flow(dit, 12), appearance_channels=12, flow_channels=12).eval()
    assert joint.dit.config.in_channels == 24 and joint.dit.config.out_channels == 24
    torch.manual_seed(2)
    x, t, text = torch.randn(2, 12, 4, 8, 8), torch.rand(2), torch.randn(2, 5, 32)
    with torch.no_grad():
        ref, _ = plain(x, None, t, text)
        for d in (torch.randn(2, 12, 4, 8, 8) * 10, None, torch.full((2, 12, 4, 8, 8), -3.0)):
            u_x, u_d = joint(x, d, t, text)
            assert torch.equal(u_x, ref) or torch.allclose(u_x, ref, atol=1e-6, rtol=0)
            assert u_d is not None and torch.count_nonzero(u_d) == 0


def test_revision_mask_extension_is_exact_at_step_0():
    unet = build_tiny_unet(12, TinyUNetSize(), frames=4)
    _perturb(unet)
    plain = MaskConditionedUNet(copy.deepcopy(unet)).eval()
    masked = MaskConditionedUNet(extend_for_masks(unet)).eval()
    assert masked.unet.config.in_channels == 26
    torch.manual_seed(3)
    x, first, t, ctx = torch.randn(1, 4, 12, 8, 8), torch.randn(1, 12, 8, 8), torch.rand(1), torch.randn(1, 1, 32)
    with torch.no_grad():
        ref = plain(x, first, None, t, ctx)
        for mask in (torch.rand(1, 4, 2, 8, 8), torch.ones(1, 4, 2, 8, 8) * 7):
            out = masked(x, first, mask, t, ctx)
            assert torch.allclose(out, ref, atol=1e-6, rtol=0)
    assert ref.abs().sum() > 0


def test_inner_guidance_combines_the_three_predictions():
    dit = build_tiny_dit(12, TinyDiTSize())
    _perturb(dit)
    model = JointDiT(extend_for_flow(dit, 12), 12, 12).eval()
    _perturb(model)  # flow rows non-zero so the three predictions differ
    torch.manual_seed(4)
    x, d, t = torch.randn(1, 12, 2, 8, 8), torch.randn(1, 12, 2, 8, 8), torch.rand(1)
    text, null = torch.randn(1, 3, 32), torch.zeros(1, 3, 32)
    g = InnerGuidance(w1=5.0, w2=3.0)
    with torch.no_grad():
        u_x, _u_d = inner_guidance_velocity(model, x, d, t, text, null_text=null, guidance=g)
        c, _ = model(x, d, t, text)
        u, _ = model(x, d, t, null)
        nf, _ = model(x, None, t, text)
        assert torch.allclose(u_x, 9 * c - 5 * u - 3 * nf, atol=1e-5)
        assert not torch.allclose(c, nf)
        out, flow = sample_inner_guidance(model, text, null, (12, 2, 8, 8), steps=2, guidance=g,
                                          generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 12, 2, 8, 8) and flow is not None and torch.isfinite(out).all()


def test_embedded_judge_is_differentiable_and_learns():
    torch.manual_seed(5)
    judge = EmbeddedPhysicsJudge()
    video = torch.rand(2, 3, 4, 16, 16, requires_grad=True)
    labels = torch.zeros(2, len(PHENOMENA))
    labels[0, 0] = 1
    terms = judge_losses(judge.score(video * 2 - 1, ["a red ball bounces", "a blue ball rolls"]), labels)
    sum(terms.values()).backward()
    assert video.grad is not None and video.grad.abs().sum() > 0
    opt = torch.optim.AdamW(judge.parameters(), lr=1e-2)
    first = last = None
    for _ in range(15):
        loss = judge.training_loss(video.detach(), ["a red ball bounces", "a blue ball rolls"], labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
        last = loss.item()
    assert last < first
