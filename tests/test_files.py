import hashlib
import json
import os

import numpy as np
import pytest

from video_structure import files


def test_write_json_is_strict_json_with_null_for_non_finite_values(tmp_path):
    path = tmp_path / "out.json"
    files.write_json(
        str(path),
        {
            "b": [1.5, float("nan"), np.float64("inf")],
            "a": (2, None),
            "c": {"d": -float("inf"), "e": "text", "f": True},
        },
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "a": [2, None],
        "b": [1.5, None, None],
        "c": {"d": None, "e": "text", "f": True},
    }
    assert text.index('"a"') < text.index('"b"')  # Sorted keys.


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "data.bin"
    files.atomic_write(str(path), lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        files.atomic_write(str(path), fail)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["data.bin"]  # No temporary file left behind.
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_sha256_of_file_matches_hashlib(tmp_path):
    data = np.random.default_rng(0).bytes(5 << 20)  # Spans several read chunks.
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert files.sha256_of_file(str(path)) == hashlib.sha256(data).hexdigest()
