"""Tests for video_structure.data.dmcs.episodes (no TensorFlow in this file)."""

import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from video_structure.data import dmcs

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_python(code, **kwargs):
    env = dict(os.environ, PYTHONPATH=_REPO_ROOT)
    env.update(kwargs.pop("env", {}))
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        **kwargs,
    )


def test_loading_the_cheetah_logs_no_mujoco_deprecation_notice():
    # MuJoCo 3 warns through absl that dm-control's cheetah.xml uses the
    # deprecated settotalmass; the filter drops that notice and no other record.
    result = _run_python("""
        import logging
        from video_structure.data import dmcs
        logging.basicConfig(format="%(message)s")
        dmcs.load_env("cheetah/run")
        logging.getLogger("absl").warning("another warning")
    """)
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr
    assert "another warning" in result.stderr


@pytest.mark.parametrize(
    "uv, expected",
    [
        ((0, 0), (-1 + 1 / 64, 1 - 1 / 64)),
        ((63, 63), (1 - 1 / 64, -1 + 1 / 64)),
        ((31.5, 31.5), (0.0, 0.0)),
        ((-0.5, 63.5), (-1.0, -1.0)),
    ],
)
def test_pixels_to_keypoints(uv, expected):
    np.testing.assert_allclose(dmcs.pixels_to_keypoints(uv, 64, 64), expected, atol=1e-12)


def test_episode_seeds_differ_across_split_domain_and_episode():
    states = {
        (split, domain, episode): tuple(
            dmcs.episode_seed(0, split, domain, episode).generate_state(4)
        )
        for split in dmcs.SPLITS
        for domain in dmcs.DOMAINS
        for episode in range(3)
    }
    assert len(set(states.values())) == len(states)
    assert states[("train", "walker/walk", 1)] == tuple(
        dmcs.episode_seed(0, "train", "walker/walk", 1).generate_state(4)
    )


@pytest.mark.parametrize("distribution", dmcs.ACTION_DISTRIBUTIONS)
def test_random_actions_lie_in_the_spec(distribution):
    spec = types.SimpleNamespace(
        minimum=np.array([-1.0, 0.0]), maximum=np.array([1.0, 2.0]), shape=(2,)
    )
    actions = np.stack(
        [dmcs.random_action(np.random.default_rng(i), spec, distribution) for i in range(200)]
    )
    assert actions.dtype == np.float32
    assert np.all((actions >= spec.minimum) & (actions <= spec.maximum))
    at_bounds = np.isin(actions, np.concatenate([spec.minimum, spec.maximum]))
    assert at_bounds.all() == (distribution == "extremes")
    assert 0.35 < np.mean(actions[:, 0] > 0) < 0.65  # both signs, about equally often


# Replays a generated episode of every domain from its stored actions and
# checks, at every frame, that the replay renders the stored frame, that the
# camera matrix equals dm_control's, and that every body's stored position
# lies on that body: inside its segmentation mask or within 2 px of the mask's
# centroid. Each body is rendered alone (the other bodies' geoms moved to a
# hidden geom group), because a walker's left leg is often behind its right
# one, and the position of a hidden part still belongs on the body.
_POSITIONS_ON_BODIES = """
import mujoco
import numpy as np
from dm_control.mujoco import engine
from video_structure.data import dmcs

T, SIZE, HIDDEN_GROUP = 3, 64, 5
checked = 0
for domain in dmcs.DOMAINS:
    env = dmcs.load_env(domain)
    model = env.physics.model
    record = np.zeros((), dmcs.record_dtype(T, SIZE, 6, 7))
    seed_sequence = dmcs.episode_seed(0, 'test', domain, 0)
    repeat = dmcs.DEFAULT_ACTION_REPEAT[domain]
    dmcs.generate_episode(env, seed_sequence, T, SIZE, repeat, 2, 'extremes', record)
    dmcs.reset_episode(env, seed_sequence)
    num_actions = env.action_spec().shape[0]
    groups = model.geom_group.copy()
    for t in range(T):
        for _ in range(repeat if t > 0 else 0):
            env.step(record['actions'][t, :num_actions])
        physics = env.physics
        frame = physics.render(SIZE, SIZE, camera_id=0)
        assert np.array_equal(frame, record['frames'][t]), (domain, t)
        np.testing.assert_allclose(
            dmcs.camera_matrix(physics, SIZE),
            engine.Camera(physics, SIZE, SIZE, camera_id=0).matrix, rtol=1e-12, atol=1e-9)
        for body_id in range(1, model.nbody):
            model.geom_group[:] = np.where(model.geom_bodyid == body_id, groups, HIDDEN_GROUP)
            seg = physics.render(SIZE, SIZE, camera_id=0, segmentation=True)
            model.geom_group[:] = groups
            is_geom = seg[..., 1] == mujoco.mjtObj.mjOBJ_GEOM
            mask = is_geom & (model.geom_bodyid[np.maximum(seg[..., 0], 0)] == body_id)
            if not mask.any():
                continue
            x, y = record['positions'][t, body_id - 1]
            u, v = (x + 1) * SIZE / 2 - 0.5, (1 - y) * SIZE / 2 - 0.5
            centroid_v, centroid_u = np.argwhere(mask).mean(axis=0)
            column, row = int(round(u)), int(round(v))
            inside = 0 <= row < SIZE and 0 <= column < SIZE and mask[row, column]
            near = np.hypot(u - centroid_u, v - centroid_v) <= 2
            assert inside or near, (domain, model.id2name(body_id, 'body'), t, (u, v),
                                    (centroid_u, centroid_v))
            checked += 1
print('checked', checked)
"""


@pytest.mark.needs_mujoco_gl
def test_positions_land_on_bodies(mujoco_gl):
    result = _run_python(_POSITIONS_ON_BODIES, env={"MUJOCO_GL": mujoco_gl})
    assert result.returncode == 0, result.stderr[-3000:]
    # 3 frames x 28 bodies of the six domains: every body is in view.
    assert "checked 84" in result.stdout
