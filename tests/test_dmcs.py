"""Tests for the video_structure.data.dmcs package (no TensorFlow in this file)."""

import os
import subprocess
import sys
import textwrap

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


def test_module_does_not_import_tensorflow():
    result = _run_python("""
        import sys
        from video_structure.data import dmcs
        assert 'tensorflow' not in sys.modules, 'tensorflow imported'
        assert 'dm_control' not in sys.modules, 'dm_control imported eagerly'
    """)
    assert result.returncode == 0, result.stderr
