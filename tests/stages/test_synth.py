"""The synthetic physics world: exact truth, deterministic renders, analytic flow, and the stages' rows."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest

from physflow.data_catalog.blobs import BlobStore, is_ref
from physflow.data_catalog.storage import Root
from physflow.stages.common.video_io import probe
from physflow.stages.synth import SCENE_KINDS, SynthConfig, SynthItem, SynthStage, SynthTruthStage, simulate
from physflow.stages.synth.render import analytic_flow, object_mask, render_frames, rle_decode, rle_encode

CFG = SynthConfig(width=160, height=128, n_frames=32, fps=16.0)


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_scenes_are_deterministic_and_inside_the_frame(kind):
    a, b = simulate(kind, 3, CFG), simulate(kind, 3, CFG)
    assert a.caption == b.caption and a.params == b.params
    for oa, ob in zip(a.objects, b.objects, strict=True):
        np.testing.assert_array_equal(oa.pos, ob.pos)
        r = oa.radius_px
        if a.params.get("leaves_frame"):  # open scenes: every ball starts wholly inside, some leave
            assert oa.pos[0, 0] - r >= 0 and oa.pos[0, 1] - r >= 0
            continue
        assert (oa.pos[:, 0] - r >= 0).all() and (oa.pos[:, 0] + r <= CFG.width).all()
        assert (oa.pos[:, 1] - r >= 0).all() and (oa.pos[:, 1] + r <= CFG.height).all()
    assert all(np.array_equal(x, y) for x, y in zip(render_frames(a), render_frames(b), strict=True))
    assert simulate(kind, 4, CFG).objects[0].pos.tolist() != a.objects[0].pos.tolist()


def test_free_fall_truth_is_an_exact_parabola_between_bounces():
    s = simulate("free_fall", 1, CFG)
    ball, dt = s.objects[0], 1 / CFG.fps
    t = np.arange(s.n_frames) * dt
    first = t < s.events[0]
    second_diff = np.diff(ball.pos[first, 1], 2) / dt**2  # px/s^2, image y down
    np.testing.assert_allclose(second_diff, CFG.gravity * s.ppm, rtol=1e-9)
    # speed ratio at the first bounce equals the restitution
    t_b = s.events[0]
    y0, g = s.params["height_m"], CFG.gravity
    v_in = g * t_b
    after = (t > t_b) & (t < s.events[1])
    k = np.flatnonzero(after)[0]
    v_out = -ball.vel[k, 1] / s.ppm + g * (t[k] - t_b)  # upward speed just after the bounce
    assert v_out / v_in == pytest.approx(s.params["restitution"], rel=1e-9)
    assert y0 - 0.5 * g * t_b**2 == pytest.approx(s.params["radius_m"][0], abs=1e-9)


def test_collisions_conserve_momentum_exactly_and_elastic_ones_energy():
    for kind, elastic in [("collision2_elastic", True), ("collision3_elastic", True), ("collision2_inelastic", False)]:
        s = simulate(kind, 2, CFG)
        m = np.array([o.mass for o in s.objects])[:, None]
        p = sum(m[i] * s.objects[i].vel for i in range(len(m)))  # (T, 2)
        np.testing.assert_allclose(p, p[0][None, :].repeat(len(p), 0), atol=1e-9)
        ke = sum(m[i, 0] * (s.objects[i].vel ** 2).sum(1) for i in range(len(m)))
        if elastic:
            np.testing.assert_allclose(ke, ke[0], rtol=1e-9)
        else:
            assert ke[-1] < ke[0] * 0.99
        assert s.events, "the scene must contain a collision"


def test_pendulum_conserves_energy_and_sliding_stops_where_friction_says():
    s = simulate("pendulum", 0, CFG)
    bob, ppm, g = s.objects[0], s.ppm, CFG.gravity
    height = (s.height - s.floor_px - bob.pos[:, 1]) / ppm
    energy = 0.5 * ((bob.vel / ppm) ** 2).sum(1) + g * height
    np.testing.assert_allclose(energy, energy[0], rtol=1e-7)
    s = simulate("sliding", 0, CFG)
    box = s.objects[0]
    travelled = abs(box.pos[-1, 0] - box.pos[0, 0]) / s.ppm
    assert travelled == pytest.approx(s.params["v0"] ** 2 / (2 * s.params["friction"] * g), rel=1e-9)
    assert box.vel[-1, 0] == 0.0


def test_mask_run_lengths_round_trip_and_cover_the_disc():
    s = simulate("free_fall", 0, CFG)
    ball = s.objects[0]
    mask = object_mask(ball, 5, s.height, s.width)
    assert mask.sum() == pytest.approx(np.pi * ball.radius_px**2, rel=0.08)
    np.testing.assert_array_equal(rle_decode(rle_encode(mask), mask.shape), mask)
    empty = np.zeros((4, 6), bool)
    np.testing.assert_array_equal(rle_decode(rle_encode(empty), empty.shape), empty)


@pytest.mark.parametrize("kind", ["projectile", "collision2_elastic", "pendulum"])
def test_analytic_flow_carries_each_object_pixel_to_its_next_frame(kind):
    s = simulate(kind, 1, CFG)
    frames, flow = render_frames(s), analytic_flow(s)
    assert flow.shape == (s.n_frames - 1, s.height, s.width, 2)
    for t in (3, 17):
        mask = np.zeros((s.height, s.width), bool)
        for obj in s.objects:  # interior pixels only: anti-aliased edges blend with the background
            full = object_mask(obj, t, s.height, s.width).astype(np.uint8)
            mask |= cv2.erode(full, np.ones((5, 5), np.uint8)).astype(bool)
        ys, xs = np.nonzero(mask)
        tx, ty = xs + flow[t, ys, xs, 0], ys + flow[t, ys, xs, 1]
        warped = cv2.remap(frames[t + 1].astype(np.float32), tx.astype(np.float32)[None],
                           ty.astype(np.float32)[None], cv2.INTER_LINEAR)[0]
        err = np.abs(warped - frames[t][ys, xs].astype(np.float32)).mean()
        assert err < 3.0, f"frame {t}: mean colour error {err:.2f} after following the analytic flow"
        if s.pivot_px is None:  # a pendulum's string moves too; elsewhere the background is still
            assert (flow[t][~_near_objects(s, t)] == 0).all()


def _near_objects(s, t):
    near = np.zeros((s.height, s.width), bool)
    for obj in s.objects:
        near |= cv2.dilate(object_mask(obj, t, s.height, s.width).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return near


def test_synth_stage_writes_h264_clips_flow_and_truth_rows(tmp_path):
    root = str(tmp_path / "catalog")
    items = [SynthItem(0, "projectile", 11, root), SynthItem(1, "collision2_elastic", 12, root),
             SynthItem(2, "no_such_scene", 13, root)]
    stage = SynthStage(CFG)
    clips = stage.run(items).to_pylist()
    good = [c for c in clips if not c["error"]]
    assert len(good) == 2 and stage.stats.errors == {"ValueError": 1}
    blobs = BlobStore(Root(root))
    for c in good:
        assert is_ref(c["uri"])  # a catalog-relative reference, the same in any catalog
        info = probe(blobs.resolve(c["uri"]))
        assert (info.codec, info.width, info.height, info.n_frames, info.error) == ("h264", 160, 128, 32, None)
        assert c["clip_id"] == f"{c['sha256'][:16]}:0-32" and c["caption"]
        assert json.loads(c["params"])["config"]["width"] == 160
    assert good[0]["g"] == pytest.approx(9.81) and good[1]["restitution"] == 1.0
    flow = np.load(io.BytesIO(BlobStore(Root(root)).read_bytes(good[0]["flow_uri"])))["flow"]
    assert flow.shape == (31, 128, 160, 2) and good[1]["flow_uri"] is None  # flow_every=2
    again = SynthStage(CFG).run(items[:1]).to_pylist()[0]
    assert again["sha256"] == good[0]["sha256"], "the same seed must give the same video bytes"
    objs = SynthTruthStage(CFG).run(good)
    assert objs.num_rows == 32 * 3
    row = [r for r in objs.to_pylist() if r["object_id"] == 1][10]
    truth = simulate("collision2_elastic", 12, CFG).objects[1]
    assert (row["x"], row["y"]) == pytest.approx(tuple(truth.pos[10]))
    assert rle_decode(row["mask_rle"], (128, 160)).sum() > 100


def test_human_scene_poses_the_smpl_format_body_with_coco_keypoints(tmp_path):
    pytest.importorskip("smplx")
    s = simulate("human_jump", 0, CFG)
    person = s.objects[0]
    assert person.kind == "human" and s.layers is not None and "jumps" in s.caption
    kp = s.human["keypoints"]
    assert kp.shape == (32, 17, 3) and (kp[..., 2] == 2).all()
    nose, l_ankle, r_ankle = kp[:, 0, :2], kp[:, 15, :2], kp[:, 16, :2]
    assert (nose[:, 1] < l_ankle[:, 1]).all() and (nose[:, 1] < r_ankle[:, 1]).all()  # head above the feet
    for t in (0, 12):  # keypoints lie on the rendered body
        mask = cv2.dilate(person.masks[t].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        xs, ys = np.round(kp[t, :, 0]).astype(int), np.round(kp[t, :, 1]).astype(int)
        assert mask[ys, xs].mean() > 0.9
    # the flight is ballistic: the pelvis falls with g between take-off and landing
    take_off, landing = s.events
    t = np.arange(32) / CFG.fps
    flight = (t > take_off) & (t < landing)
    accel = np.diff(person.pos[flight, 1], 2) * CFG.fps**2 / s.ppm
    np.testing.assert_allclose(accel, CFG.gravity, rtol=1e-6)
    frames = render_frames(s)
    assert frames[0].shape == (128, 160, 3) and np.abs(frames[12].astype(int) - frames[0]).sum() > 0
    rows = SynthStage(CFG).run([SynthItem(0, "human_wave", 1, str(tmp_path / "c"))]).to_pylist()
    assert rows[0]["error"] is None and rows[0]["flow_uri"] is None  # no exact flow for a deforming mesh
    objs = SynthTruthStage(CFG).run(rows).to_pylist()
    assert len(objs) == 32 and len(objs[0]["keypoints"]) == 17 and len(objs[0]["body_pose"]) == 69
