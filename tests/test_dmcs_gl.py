"""Tests for video_structure.data.dmcs.gl (no TensorFlow in this file)."""

import pytest

from video_structure.data.dmcs import gl


def test_missing_gl_backend_names_debian_packages(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.setattr(gl, "GL_BACKENDS", ("no_such_backend",))
    with pytest.raises(RuntimeError, match="libosmesa6"):
        gl.select_gl_backend()
