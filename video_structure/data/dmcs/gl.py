"""Chooses the MuJoCo GL backend for headless rendering.

dm-control reads MUJOCO_GL when it is first imported, so the backend is chosen
in the parent process, by rendering a tiny frame in a subprocess per candidate,
before any rendering worker starts.
"""

import os
import subprocess
import sys

GL_BACKENDS = ("egl", "osmesa")
_GL_PACKAGES = (
    "MUJOCO_GL=egl needs the Debian packages libegl1 libegl-mesa0 "
    "libgl1-mesa-dri; MUJOCO_GL=osmesa needs libosmesa6"
)
_PROBE_SCRIPT = """
from dm_control import suite
env = suite.load('cartpole', 'balance', task_kwargs={'random': 0})
env.reset()
assert env.physics.render(16, 16, camera_id=0).shape == (16, 16, 3)
"""


def _probe_gl(backend):
    """Returns the stderr tail of a failed render with `backend`, or None."""
    env = dict(os.environ, MUJOCO_GL=backend)
    env.pop("PYOPENGL_PLATFORM", None)
    try:
        result = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        return "timed out"
    if result.returncode == 0:
        return None
    return result.stderr.strip()[-300:] or f"exit status {result.returncode}"


def select_gl_backend():
    """Chooses the MuJoCo GL backend for headless rendering.

    Respects MUJOCO_GL when it is set. Otherwise renders a tiny frame in a
    subprocess with each of `GL_BACKENDS` and returns the first that works.

    Returns:
        The value for MUJOCO_GL, e.g. 'egl'.

    Raises:
        RuntimeError: no backend can render; the message names the Debian
            packages each backend needs.
    """
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    failures = []
    for backend in GL_BACKENDS:
        error = _probe_gl(backend)
        if error is None:
            return backend
        failures.append(f"MUJOCO_GL={backend}: {error}")
    raise RuntimeError(
        f"MuJoCo cannot render headless with any of {GL_BACKENDS}. {_GL_PACKAGES}. Errors:\n"
        + "\n".join(failures)
    )
