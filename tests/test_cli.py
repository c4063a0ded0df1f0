"""Tests for video_structure.cli."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, path=ROOT):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(env, PYTHONPATH=path),
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_start_tensorflow_holds_back_the_startup_notices_and_nothing_else():
    result = _python(
        "import os, sys\n"
        "from video_structure import cli\n"
        "cli.start_tensorflow()\n"
        "import tensorflow as tf\n"
        "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], float(tf.reduce_sum(tf.ones([3]))))\n"
        "os.write(2, b'written to fd 2 afterwards\\n')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "1 3.0\n"
    assert result.stderr == "written to fd 2 afterwards\n"


def test_a_failing_import_keeps_its_message_and_restores_stderr():
    result = _python(
        "import sys\n"
        "sys.modules['tensorflow'] = None  # makes the import fail\n"
        "from video_structure import cli\n"
        "try:\n"
        "    cli.start_tensorflow()\n"
        "except ImportError as e:\n"
        "    print('raised', file=sys.stderr)\n"
    )
    assert result.returncode == 0
    assert result.stderr == "raised\n"


def test_lines_other_than_the_notices_are_written_back(tmp_path):
    # A stand-in module named tensorflow that writes to the stderr descriptor
    # as TensorFlow's C++ start-up does: one known notice and one other line.
    (tmp_path / "tensorflow.py").write_text(
        "import os, types\n"
        "os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "os.write(2, b'W0000 something a user should see\\n')\n"
        "config = types.SimpleNamespace(list_physical_devices=lambda: [])\n"
    )
    result = _python(
        "from video_structure import cli\ncli.start_tensorflow()\n",
        path=f"{tmp_path}{os.pathsep}{ROOT}",
    )
    assert result.returncode == 0
    assert result.stderr == "W0000 something a user should see\n"


def _imported_modules(importtime_stderr):
    """The modules `python -X importtime` reports as imported."""
    lines = [line for line in importtime_stderr.splitlines() if line.startswith("import time:")]
    return {line.rsplit("|", 1)[-1].strip() for line in lines[1:]}  # [0] is the header.


@pytest.mark.parametrize(
    "script, flag",
    [
        ("train.py", "--help"),
        ("train.py", "--preset=nope"),
        ("train.py", "--devices=CPU:0"),
        ("train.py", "stray"),
        ("evaluate.py", "--help"),
        ("evaluate.py", "--num_sequences=1"),
    ],
)
def test_help_and_bad_flags_are_answered_before_tensorflow_is_imported(script, flag):
    result = subprocess.run(
        [sys.executable, "-X", "importtime", os.path.join(ROOT, script), flag],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        timeout=60,
    )
    if flag == "--help":  # absl's exit status of --help is 1.
        assert result.returncode == 1 and "--output_dir" in result.stdout, result.stderr[-3000:]
    else:
        assert result.returncode == 2, result.stderr[-3000:]
        assert result.stderr.splitlines()[-1].startswith(f"{script}: error: "), result.stderr
    modules = _imported_modules(result.stderr)
    assert "video_structure.data.registry" in modules  # The report is read right.
    assert not modules & {"tensorflow", "keras"}
