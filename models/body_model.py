"""A small articulated body, built procedurally, in the real SMPL file format (DESIGN §6).

`build_body_model(path)` writes a pickle with the keys the SMPL files carry (v_template, f, shapedirs,
posedirs, J_regressor, weights, kintree_table, J, bs_style, bs_type), so `smplx.SMPL` loads it through
its ordinary file path. The body is 24 SMPL joints (same names, same kinematic tree, same axes: y up,
the body facing +z, its left on +x, metres) with a closed tube of skin around each bone; every vertex
is skinned to the joint whose bone it wraps, blended with the parent near the joint. Ten shape
directions (height, girth, leg, arm and torso length, shoulder and hip width, head size, ...) and
volume-keeping pose correctives at the joints make betas and posedirs real, not zeros.

A small mesh has none of the vertex numbers smplx's default `vertex_ids` point at (nose, eyes, toes,
finger tips), so the file also carries `physflow_vertex_ids`; `load_body_model` passes them to smplx.
A licensed SMPL or SMPL-X file loads through the same function with smplx's own defaults.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hand", "right_hand",
)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
N_JOINTS = 24
N_BETAS = 10
VERTEX_IDS_KEY = "physflow_vertex_ids"

# Rest joint positions of a T-posed adult (metres), left side; right joints mirror x.
_CENTRE = {
    "pelvis": (0.0, -0.22, 0.02), "spine1": (0.0, -0.11, 0.0), "spine2": (0.0, 0.02, 0.02),
    "spine3": (0.0, 0.08, 0.03), "neck": (0.0, 0.29, 0.0), "head": (0.0, 0.36, 0.03),
}
_LEFT = {
    "hip": (0.07, -0.31, 0.02), "knee": (0.1, -0.69, 0.015), "ankle": (0.085, -1.09, -0.02),
    "foot": (0.11, -1.145, 0.1), "collar": (0.08, 0.2, 0.01), "shoulder": (0.18, 0.23, -0.01),
    "elbow": (0.44, 0.21, -0.03), "wrist": (0.69, 0.22, -0.02), "hand": (0.77, 0.215, -0.03),
}


def _v(x: float, y: float, z: float) -> np.ndarray:
    return np.array([x, y, z])


def rest_joints() -> np.ndarray:
    """(24, 3) rest joint positions in SMPL joint order."""
    out = np.zeros((N_JOINTS, 3))
    for i, name in enumerate(JOINT_NAMES):
        if name in _CENTRE:
            out[i] = _CENTRE[name]
        else:
            side, part = name.split("_", 1)
            x, y, z = _LEFT[part]
            out[i] = (x if side == "left" else -x, y, z)
    return out


@dataclass(frozen=True)
class _Tube:
    """Skin around one bone: rings from `start` (a joint) to `end`, owned by joint `joint`."""

    joint: int
    start: np.ndarray
    end: np.ndarray
    r0: float
    r1: float
    regress: bool = True  # its first ring's centre is the joint (used by J_regressor)


def _tubes(j: np.ndarray, hand_stubs: bool = True) -> list[_Tube]:
    n = {name: i for i, name in enumerate(JOINT_NAMES)}
    up = np.array([0.0, 1.0, 0.0])
    tubes = [
        _Tube(n["pelvis"], j[n["pelvis"]], j[n["spine1"]], 0.13, 0.13),
        _Tube(n["pelvis"], j[n["left_hip"]] + _v(0.03, 0, 0), j[n["right_hip"]] - _v(0.03, 0, 0), 0.1, 0.1, False),
        _Tube(n["spine1"], j[n["spine1"]], j[n["spine2"]], 0.13, 0.135),
        _Tube(n["spine2"], j[n["spine2"]], j[n["spine3"]], 0.135, 0.14),
        _Tube(n["spine3"], j[n["spine3"]], j[n["neck"]], 0.145, 0.12),
        _Tube(n["neck"], j[n["neck"]], j[n["head"]], 0.055, 0.055),
        _Tube(n["head"], j[n["head"]], j[n["head"]] + 0.22 * up, 0.085, 0.07),
    ]
    limbs = [("hip", "knee", 0.08, 0.055), ("knee", "ankle", 0.052, 0.04), ("ankle", "foot", 0.04, 0.035),
             ("collar", "shoulder", 0.05, 0.05), ("shoulder", "elbow", 0.048, 0.04),
             ("elbow", "wrist", 0.04, 0.03), ("wrist", "hand", 0.03, 0.028)]
    for side, sx in (("left", 1.0), ("right", -1.0)):
        for a, b, r0, r1 in limbs:
            tubes.append(_Tube(n[f"{side}_{a}"], j[n[f"{side}_{a}"]], j[n[f"{side}_{b}"]], r0, r1))
        foot, hand = j[n[f"{side}_foot"]], j[n[f"{side}_hand"]]
        tubes.append(_Tube(n[f"{side}_foot"], foot, foot + _v(0, 0, 0.07), 0.033, 0.025))
        if hand_stubs:  # SMPL's one-piece hand; SMPL-X has fingers instead (_finger_mesh)
            tubes.append(_Tube(n[f"{side}_hand"], hand, hand + _v(sx * 0.09, 0, 0), 0.026, 0.02))
    return tubes


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to `axis` and to each other."""
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


@dataclass
class _Mesh:
    verts: list[np.ndarray]
    faces: list[tuple[int, int, int]]
    owner: list[int]  # joint owning each vertex
    blend: list[float]  # share of the parent joint's weight (near the joint)
    radial: list[np.ndarray]  # outward unit normal of each vertex (shape and pose directions)
    along: list[float]  # 0 at the tube's start ring, 1 at its end
    ring0: dict[int, list[int]]  # joint -> vertex ids of its regressing ring


def _add_tube(mesh: _Mesh, tube: _Tube, n_seg: int, n_rings: int) -> None:
    axis = tube.end - tube.start
    u, v = _frame(axis / np.linalg.norm(axis))
    base = len(mesh.verts)
    for k in range(n_rings):
        t = k / (n_rings - 1)
        centre, radius = tube.start + t * axis, tube.r0 + t * (tube.r1 - tube.r0)
        for s in range(n_seg):
            ang = 2 * np.pi * s / n_seg
            normal = np.cos(ang) * u + np.sin(ang) * v
            mesh.verts.append(centre + radius * normal)
            mesh.owner.append(tube.joint)
            mesh.blend.append(0.5 * (1 - t) ** 2 if tube.regress else 0.0)
            mesh.radial.append(normal)
            mesh.along.append(t)
    if tube.regress:
        mesh.ring0[tube.joint] = list(range(base, base + n_seg))
    for k in range(n_rings - 1):
        for s in range(n_seg):
            a, b = base + k * n_seg + s, base + k * n_seg + (s + 1) % n_seg
            c, d = a + n_seg, b + n_seg
            mesh.faces += [(a, c, b), (b, c, d)]
    for k, t, sign in ((0, 0.0, -1.0), (n_rings - 1, 1.0, 1.0)):  # caps
        cap = len(mesh.verts)
        mesh.verts.append(tube.start + t * axis)
        mesh.owner.append(tube.joint)
        mesh.blend.append(0.0)
        mesh.radial.append(sign * axis / np.linalg.norm(axis))
        mesh.along.append(t)
        ring = base + k * n_seg
        for s in range(n_seg):
            a, b = ring + s, ring + (s + 1) % n_seg
            mesh.faces.append((cap, b, a) if sign < 0 else (cap, a, b))


def _shape_dirs(v: np.ndarray, mesh: _Mesh, joints: np.ndarray) -> np.ndarray:
    """(V, 3, 10) shape directions: one unit of beta is a plausible spread of adult body sizes."""
    owner, radial = np.array(mesh.owner), np.array(mesh.radial)
    names = [JOINT_NAMES[o] for o in owner]
    pelvis_y = joints[0, 1]
    legs = np.array([n.split("_", 1)[-1] in ("hip", "knee", "ankle", "foot") for n in names])
    arms = np.array([n.split("_", 1)[-1] in ("collar", "shoulder", "elbow", "wrist", "hand") for n in names])
    below = np.clip(pelvis_y - v[:, 1], 0, None)[:, None] * np.array([0.0, -1.0, 0.0])
    out = np.zeros((len(v), 3, N_BETAS))
    out[:, :, 0] = 0.06 * v  # overall size
    out[:, :, 1] = 0.012 * radial  # girth
    out[:, :, 2] = 0.06 * below * legs[:, None]  # leg length
    reach = np.abs(v[:, 0:1]) * np.sign(v[:, 0:1]) * np.array([1.0, 0.0, 0.0])
    out[:, :, 3] = 0.06 * reach * arms[:, None]  # arm span
    above = np.clip(v[:, 1] - pelvis_y, 0, None)[:, None] * np.array([0.0, 1.0, 0.0])
    out[:, :, 4] = 0.05 * above * ~(legs | arms)[:, None]  # torso length
    out[:, :, 5] = 0.015 * np.sign(v[:, 0:1]) * np.array([1.0, 0.0, 0.0]) * arms[:, None]  # shoulder width
    hips = np.isin(owner, [0, 1, 2])
    out[:, :, 6] = 0.012 * np.sign(v[:, 0:1]) * np.array([1.0, 0.0, 0.0]) * hips[:, None]  # hip width
    out[:, :, 7] = 0.01 * radial * np.isin(owner, [15])[:, None]  # head size
    out[:, :, 8] = 0.01 * radial * legs[:, None]  # leg girth
    out[:, :, 9] = 0.01 * radial * arms[:, None]  # arm girth
    return out


def _pose_dirs(mesh: _Mesh) -> np.ndarray:
    """(V, 3, 207) correctives: skin near a bent joint bulges outward (keeps volume at elbows, knees)."""
    out = np.zeros((len(mesh.verts), 3, 9 * (N_JOINTS - 1)))
    for i, (owner, radial, t) in enumerate(zip(mesh.owner, mesh.radial, mesh.along, strict=True)):
        if owner == 0 or t > 0.34:
            continue
        near = 1.0 - t / 0.34
        for d in (0, 4, 8):  # diagonal of (R - I): its trace is 2 cos(angle) - 2
            out[i, :, 9 * (owner - 1) + d] = -0.004 * near * radial
    return out


def _vertex_ids(v: np.ndarray, mesh: _Mesh, joints: np.ndarray) -> dict[str, int]:
    """Vertices standing for the keypoints smplx adds beyond the joints (face, feet, finger tips)."""
    owner = np.array(mesh.owner)

    def pick(joint: str, target: np.ndarray) -> int:
        ids = np.flatnonzero(owner == JOINT_NAMES.index(joint))
        if not len(ids):  # no hand stub (SMPL-X layout): the palm, owned by the wrist
            ids = np.flatnonzero(owner == PARENTS[JOINT_NAMES.index(joint)])
        return int(ids[np.argmin(np.linalg.norm(v[ids] - target, axis=1))])

    head = joints[JOINT_NAMES.index("head")] + _v(0, 0.09, 0)
    ids = {"nose": pick("head", head + _v(0, -0.01, 0.2)), "reye": pick("head", head + _v(-0.04, 0.03, 0.2)),
           "leye": pick("head", head + _v(0.04, 0.03, 0.2)), "rear": pick("head", head + _v(-0.2, 0, 0)),
           "lear": pick("head", head + _v(0.2, 0, 0))}
    for side, s in (("L", "left"), ("R", "right")):
        foot = joints[JOINT_NAMES.index(f"{s}_foot")]
        ankle = joints[JOINT_NAMES.index(f"{s}_ankle")]
        ids[f"{side}BigToe"] = pick(f"{s}_foot", foot + _v(0, 0, 0.1))
        ids[f"{side}SmallToe"] = pick(f"{s}_foot", foot + _v(0.05 if s == "left" else -0.05, 0, 0.1))
        ids[f"{side}Heel"] = pick(f"{s}_ankle", ankle + _v(0, -0.05, -0.1))
        hand = joints[JOINT_NAMES.index(f"{s}_hand")]
        sx = 1.0 if s == "left" else -1.0
        for k, tip in enumerate(("thumb", "index", "middle", "ring", "pinky")):
            ids[f"{side[0].lower()}{tip}"] = pick(f"{s}_hand", hand + _v(sx * 0.2, 0, 0.03 - 0.015 * k))
    return ids


def body_model_data(n_seg: int = 10, n_rings: int = 5, hand_stubs: bool = True) -> dict[str, Any]:
    """The arrays of the procedural body, keyed as in an SMPL pickle (plus physflow's vertex ids)."""
    joints = rest_joints()
    mesh = _Mesh([], [], [], [], [], [], {})
    for tube in _tubes(joints, hand_stubs):
        _add_tube(mesh, tube, n_seg, n_rings)
    v = np.array(mesh.verts)
    weights = np.zeros((len(v), N_JOINTS))
    for i, (owner, blend) in enumerate(zip(mesh.owner, mesh.blend, strict=True)):
        parent = PARENTS[owner]
        weights[i, owner] = 1.0 - (blend if parent >= 0 else 0.0)
        if parent >= 0:
            weights[i, parent] += blend
    regressor = np.zeros((N_JOINTS, len(v)))
    for joint, ring in mesh.ring0.items():
        regressor[joint, ring] = 1.0 / len(ring)
    parents = np.array([p if p >= 0 else 4294967295 for p in PARENTS], dtype=np.int64)
    return {
        "v_template": v, "f": np.array(mesh.faces, dtype=np.uint32), "weights": weights,
        "shapedirs": _shape_dirs(v, mesh, joints), "posedirs": _pose_dirs(mesh), "J_regressor": regressor,
        "kintree_table": np.stack([parents, np.arange(N_JOINTS)]), "J": regressor @ v,
        "bs_style": "lbs", "bs_type": "lrotmin", "joint_names": list(JOINT_NAMES),
        VERTEX_IDS_KEY: _vertex_ids(v, mesh, joints),
    }


# SMPL-X: 22 body joints as SMPL, then jaw, eyes and 2 x 15 finger joints (smplx's order).
SMPLX_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
                 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
                 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53)
SMPLX_VERTS = 10475
_SMPLX_OFFSET = 1000  # our mesh sits at vertex ids 1000.., clear of the ids smplx reads keypoints from
SMPLX_FINGERS = ("index", "middle", "pinky", "ring", "thumb")  # smplx's order of the 3-joint chains per hand
# Left hand in the T-pose (palm down, fingers along +x, thumb forward): first joint's offset from the wrist,
# direction, the three bone lengths (to the next joints and the tip) and the finger's radius, metres.
_FINGER_GEOMETRY = {
    "index": ((0.085, 0.0, 0.028), (1.0, 0.0, 0.05), (0.040, 0.024, 0.022), 0.0095),
    "middle": ((0.09, 0.0, 0.008), (1.0, 0.0, 0.0), (0.044, 0.027, 0.024), 0.0095),
    "pinky": ((0.075, 0.0, -0.03), (1.0, 0.0, -0.1), (0.032, 0.020, 0.020), 0.008),
    "ring": ((0.085, 0.0, -0.012), (1.0, 0.0, -0.04), (0.040, 0.026, 0.023), 0.009),
    "thumb": ((0.025, -0.01, 0.03), (0.7, -0.1, 0.7), (0.040, 0.032, 0.028), 0.011),
}


def finger_joints(side: str, wrist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(15, 3) rest positions of one hand's finger joints in smplx's order and (5, 3) its finger tips
    (thumb, index, middle, ring, pinky: smplx's tip order), for the hand whose wrist is at `wrist`."""
    sx = 1.0 if side == "left" else -1.0
    mirror = np.array([sx, 1.0, 1.0])
    joints, tips = np.zeros((15, 3)), {}
    for k, finger in enumerate(SMPLX_FINGERS):
        offset, direction, lengths, _ = _FINGER_GEOMETRY[finger]
        d = np.array(direction) / np.linalg.norm(direction) * mirror
        point = wrist + np.array(offset) * mirror
        for i, length in enumerate(lengths):
            if i < 3:
                joints[3 * k + i] = point
            point = point + length * d
        tips[finger] = point
    return joints, np.stack([tips[f] for f in ("thumb", "index", "middle", "ring", "pinky")])


def _finger_mesh(first_vertex: int, n_seg: int = 6, n_rings: int = 3) -> tuple[_Mesh, dict[str, int]]:
    """Tubes around the 30 finger bones, owned by SMPL-X finger joints (25..54), and the vertex id of each
    finger tip (smplx's names: lthumb, ..., rpinky), counted from `first_vertex`."""
    mesh, tips = _Mesh([], [], [], [], [], [], {}), {}
    rest = rest_joints()
    for side, first_joint in (("left", 25), ("right", 40)):
        joints, tip_points = finger_joints(side, rest[JOINT_NAMES.index(f"{side}_wrist")])
        ends = {3 * k + 2: tip_points[("thumb", "index", "middle", "ring", "pinky").index(f)]
                for k, f in enumerate(SMPLX_FINGERS)}
        for j in range(15):
            radius = _FINGER_GEOMETRY[SMPLX_FINGERS[j // 3]][3] * (1.0 - 0.1 * (j % 3))
            end = ends.get(j, joints[j + 1] if j % 3 < 2 else None)
            _add_tube(mesh, _Tube(first_joint + j, joints[j], end, radius, 0.9 * radius), n_seg, n_rings)
            if j in ends:  # the end cap's centre: the last vertex this tube added
                tips[f"{side[0]}{SMPLX_FINGERS[j // 3]}"] = first_vertex + len(mesh.verts) - 1
    return mesh, tips


def _procedural_smplx() -> dict[str, Any]:
    """The procedural body (no hand stubs) plus fingers, as arrays over 55 SMPL-X joints, before placing them
    among smplx's 10475 vertex ids."""
    d = body_model_data(hand_stubs=False)
    n0, n_joints = d["v_template"].shape[0], len(SMPLX_PARENTS)
    fingers, tips = _finger_mesh(n0)
    fv = np.array(fingers.verts)
    weights = np.zeros((n0 + len(fv), n_joints))
    weights[:n0, :22] = d["weights"][:, :22]
    for i, (owner, blend) in enumerate(zip(fingers.owner, fingers.blend, strict=True)):
        weights[n0 + i, owner] = 1.0 - blend
        weights[n0 + i, SMPLX_PARENTS[owner]] += blend
    regressor = np.zeros((n_joints, n0 + len(fv)))
    regressor[:22, :n0] = d["J_regressor"][:22]
    regressor[22:25, :n0] = d["J_regressor"][15]  # jaw and eyes sit at the head joint
    for joint, ring in fingers.ring0.items():
        regressor[joint, n0 + np.array(ring)] = 1.0 / len(ring)
    # Fingers follow the arm's size directions (overall size, arm span, shoulder width), so they stay on the palm.
    finger_dirs = np.zeros((len(fv), 3, N_BETAS))
    finger_dirs[:, 0, 0], finger_dirs[:, 1, 0], finger_dirs[:, 2, 0] = 0.06 * fv.T
    finger_dirs[:, 0, 3] = 0.06 * fv[:, 0]
    finger_dirs[:, 0, 5] = 0.015 * np.sign(fv[:, 0])
    posedirs = np.zeros((n0 + len(fv), 3, 9 * (n_joints - 1)))
    posedirs[:n0, :, : 9 * 21] = d["posedirs"][:, :, : 9 * 21]
    ids = {**d[VERTEX_IDS_KEY], **tips}
    return {"v": np.concatenate([d["v_template"], fv]), "f": np.concatenate([d["f"], np.array(fingers.faces) + n0]),
            "weights": weights, "regressor": regressor, "posedirs": posedirs, "vertex_ids": ids,
            "shapedirs": np.concatenate([d["shapedirs"], finger_dirs])}


def smplx_model_data() -> dict[str, Any]:
    """The procedural body in the SMPL-X file layout: 55 joints (jaw and eyes at the head; five three-joint
    fingers per hand, each with its own skin), 10475 vertices with smplx's keypoint vertex ids (face, feet,
    finger tips) placed on the matching parts, 10 shape + 10 (zero) expression directions, identity hand PCA."""
    from smplx.vertex_ids import vertex_ids as smplx_ids

    p = _procedural_smplx()
    n = len(p["v"])
    src = np.zeros(SMPLX_VERTS, np.int64)  # which procedural vertex each SMPL-X vertex copies
    src[_SMPLX_OFFSET:_SMPLX_OFFSET + n] = np.arange(n)
    for name, vid in smplx_ids["smplx"].items():
        src[vid] = p["vertex_ids"][name]
    regressor = np.zeros((len(SMPLX_PARENTS), SMPLX_VERTS))
    regressor[:, _SMPLX_OFFSET:_SMPLX_OFFSET + n] = p["regressor"]
    shapedirs = np.concatenate([p["shapedirs"][src], np.zeros((SMPLX_VERTS, 3, 10))], axis=2)
    parents = np.array([q if q >= 0 else 4294967295 for q in SMPLX_PARENTS], dtype=np.int64)
    return {
        "v_template": p["v"][src], "f": p["f"].astype(np.uint32) + _SMPLX_OFFSET, "weights": p["weights"][src],
        "shapedirs": shapedirs, "posedirs": p["posedirs"][src], "J_regressor": regressor,
        "kintree_table": np.stack([parents, np.arange(len(SMPLX_PARENTS))]),
        "hands_componentsl": np.eye(45), "hands_componentsr": np.eye(45),
        "hands_meanl": np.zeros(45), "hands_meanr": np.zeros(45),
        "lmk_faces_idx": np.zeros(51, np.int64), "lmk_bary_coords": np.tile([1.0, 0.0, 0.0], (51, 1)),
    }


def build_body_model(path: str | os.PathLike[str], kind: str = "smpl") -> Path:
    """Write the procedural body to `path` and return the path: `kind="smpl"` an SMPL pickle (24 joints),
    `kind="smplx"` an SMPL-X npz (55 joints) that `smplx.SMPLX` loads."""
    if kind not in ("smpl", "smplx"):
        raise ValueError(f"body model kind must be 'smpl' or 'smplx', not {kind!r}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        if kind == "smpl":
            pickle.dump(body_model_data(), fh, protocol=2)
        else:
            np.savez(fh, **smplx_model_data())
    os.replace(tmp, out)
    return out


def read_model_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The arrays of an SMPL (.pkl) or SMPL-X (.npz / .pkl) file."""
    path = Path(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=True) as data:
            return {k: data[k] for k in data.files}
    with open(path, "rb") as fh:
        return dict(pickle.load(fh, encoding="latin1"))


def load_body_model(path: str | os.PathLike[str], kind: str = "smpl", batch_size: int = 1, num_betas: int = 10):  # type: ignore[no-untyped-def]
    """An smplx body model (SMPL or SMPL-X) from a file, with physflow's vertex ids when the file has them."""
    import smplx
    from smplx.utils import Struct

    data = read_model_file(path)
    vertex_ids = data.pop(VERTEX_IDS_KEY, None)
    if isinstance(vertex_ids, np.ndarray):
        vertex_ids = vertex_ids.item()
    if kind == "smpl":
        return smplx.SMPL(str(path), data_struct=Struct(**data), vertex_ids=vertex_ids, batch_size=batch_size,
                          num_betas=num_betas)
    if kind == "smplx":  # smplx.SMPLX always uses its own vertex ids
        return smplx.SMPLX(str(path), ext=Path(path).suffix.lstrip(".") or "npz",
                           batch_size=batch_size, num_betas=num_betas, use_pca=False)
    raise ValueError(f"body model kind must be 'smpl' or 'smplx', got {kind!r}")


def part_labels(path: str | os.PathLike[str]) -> np.ndarray:
    """(V,) the joint each vertex mostly follows (argmax of its skinning weights): the body part of a vertex."""
    return np.asarray(read_model_file(path)["weights"]).argmax(axis=1)


PROCEDURAL_FILES = {"smpl": "SMPL_NEUTRAL.pkl", "smplx": "SMPLX_NEUTRAL.npz"}


def open_body_model(path: str | os.PathLike[str] | None, kind: str = "smpl", num_betas: int = 10):  # type: ignore[no-untyped-def]
    """The one body-model loader: a registered SMPL/SMPL-X file, or (path None) physflow's procedural body built
    in that family's file format; frozen (no gradients to its buffers)."""
    import tempfile

    if path is not None:
        model = load_body_model(path, kind, num_betas=num_betas)
    else:
        with tempfile.TemporaryDirectory(prefix="physflow-body-") as tmp:
            built = build_body_model(Path(tmp) / PROCEDURAL_FILES[kind], kind=kind)
            model = load_body_model(built, kind, num_betas=num_betas)
    return model.requires_grad_(False)
