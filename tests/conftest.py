"""Shared test setup: quiet TensorFlow, deterministic seeds, markers and skips, small data files.

Markers (registered here, applied in the test files):

* `slow`: a test that takes more than about 5 s on a quiet 2-core machine
  (deselect with `-m "not slow"`).
* `needs_mujoco_gl`: renders MuJoCo frames; skipped where no headless GL
  backend (EGL or OSMesa, see `dmcs.select_gl_backend`) can render.
* `needs_vgg_weights`, `needs_i3d_weights`: need the pretrained weight
  packages that scripts/install.sh installs; skipped without them.
"""

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest

from video_structure import config, export, optimizers
from video_structure import model as model_lib
from video_structure.data import dmcs
from video_structure.pretrained import i3d, vgg16, weights

_MARKERS = {
    "slow": "takes more than about 5 s on a quiet 2-core machine (deselect with -m 'not slow')",
    "needs_mujoco_gl": "renders MuJoCo frames; skipped without a headless GL backend",
    "needs_vgg_weights": "needs the VGG16 ImageNet weights; skipped without them",
    "needs_i3d_weights": "needs the I3D Kinetics-400 weights; skipped without them",
}
_WEIGHTS = {
    "needs_vgg_weights": vgg16.VGG16_IMAGENET,
    "needs_i3d_weights": i3d.I3D_KINETICS400,
}


def pytest_configure(config):
    for name, description in _MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


@functools.cache
def mujoco_gl_backend():
    """The headless MuJoCo GL backend (probed once per session), or None and the reason."""
    try:
        return dmcs.select_gl_backend(), None
    except RuntimeError as error:
        return None, str(error).splitlines()[0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    # Before the test's fixtures, some of which generate DMCS datasets or load weights.
    if item.get_closest_marker("needs_mujoco_gl"):
        backend, reason = mujoco_gl_backend()
        if backend is None:
            pytest.skip(reason)
    for marker, spec in _WEIGHTS.items():
        if item.get_closest_marker(marker) and not weights.is_installed(spec):
            pytest.skip(f"{spec.distribution} not installed: {spec.install_command}")


@pytest.fixture(scope="session")
def gl_backend_if_any():
    """The probed MuJoCo GL backend or None, for module fixtures whose DMCS part is optional."""
    return mujoco_gl_backend()[0]


@pytest.fixture(scope="session")
def gl_backend():
    """The probed MuJoCo GL backend; skips the test (and its module fixtures) without one."""
    backend, reason = mujoco_gl_backend()
    if backend is None:
        pytest.skip(reason)
    return backend


@pytest.fixture
def mujoco_gl(gl_backend, monkeypatch):
    """Sets MUJOCO_GL to the probed backend, so that dmcs.generate does not probe again."""
    monkeypatch.setenv("MUJOCO_GL", gl_backend)
    return gl_backend


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def write_npz():
    """Writes one sequence in the authors' npz format; returns the arrays written.

    The returned function takes (path, length, size=64, keys=(...), seed=0).
    """

    def write(path, length, size=64, keys=("image", "true_object_pos", "action", "reward"), seed=0):
        rng = np.random.default_rng(seed)
        arrays = {
            "image": rng.integers(0, 256, (length, size, size, 3), np.uint8),
            "true_object_pos": rng.uniform(0, 1, (length, 3, 2)),
            "action": rng.normal(size=(length, 2)).astype(np.float32),
            "reward": rng.normal(size=length),
        }
        arrays = {k: v for k, v in arrays.items() if k in keys}
        np.savez(path, **arrays)
        return arrays

    return write


@pytest.fixture(scope="session")
def tiny_dmcs():
    """`dmcs.generate` keyword arguments of a tiny two-domain dataset.

    Shared by module-scoped datasets: change a copy, `dict(tiny_dmcs, seed=4)`.
    """
    return dict(
        domains=["cartpole/balance", "walker/walk"],
        train_episodes=2,
        test_episodes=2,
        episode_length=5,
        episodes_per_shard=1,
        seed=3,
        progress=False,
    )


# The tiny untrained Struct-VRNN of the export, evaluate and collection tests.
TINY_EXPORT_CONFIG = dict(
    num_keypoints=4,
    encoder_filters=4,
    rnn_units=8,
    latent_size=4,
    num_bom_samples=2,
)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """Returns export(observed, predicted, **overrides) -> (model, path, cfg), each built once.

    The exports are shared by tests of several files: tests must not write into them.
    """
    cache = {}

    def make(observed, predicted, **overrides):
        key = (observed, predicted, tuple(sorted(overrides.items())))
        if key not in cache:
            cfg = config.get_preset(
                "synthetic",
                observed_steps=observed,
                predicted_steps=predicted,
                **TINY_EXPORT_CONFIG,
                **overrides,
            )
            keras.utils.set_random_seed(0)
            model = model_lib.StructVRNN(cfg)
            model.compile(optimizer=optimizers.make_optimizer(cfg))
            model.build_all()
            path = str(tmp_path_factory.mktemp("tiny_export") / "export")
            export.export(model, path)
            cache[key] = model, path, cfg
        return cache[key]

    return make
