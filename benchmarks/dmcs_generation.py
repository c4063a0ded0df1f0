r"""Benchmarks DMCS dataset generation against raw dm_control step + render.

Prints raw single-process step+render frames/s per domain, then the frames/s
of `dmcs.generate` in total and per worker (wall time includes starting the
spawn workers and hashing the shards). This script never imports TensorFlow.

    PYTHONPATH=. python benchmarks/dmcs_generation.py --workers=2
"""

import os
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

from video_structure.data import dmcs

_DOMAINS = flags.DEFINE_list("domains", list(dmcs.DOMAINS), "Domains to benchmark.")
_RAW_STEPS = flags.DEFINE_integer(
    "raw_steps", 200, "Timed step+render calls per domain for the raw fps."
)
_EPISODES = flags.DEFINE_integer("episodes", 2, "Train episodes per domain for the generation run.")
_EPISODE_LENGTH = flags.DEFINE_integer("episode_length", 100, "Frames per episode.")
_WORKERS = flags.DEFINE_integer("workers", 2, "Generation worker processes.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Frame size.")


def raw_fps(domain, steps, image_size):
    """Frames/s of random-action env.step + physics.render in this process."""
    env = dmcs.load_env(domain)
    spec = env.action_spec()
    rng = np.random.default_rng(0)
    env.reset()
    env.physics.render(image_size, image_size, camera_id=dmcs.CAMERA_ID)
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.uniform(spec.minimum, spec.maximum, spec.shape))
        env.physics.render(image_size, image_size, camera_id=dmcs.CAMERA_ID)
    return steps / (time.perf_counter() - start)


def main(argv):
    del argv
    # Rendering here needs the backend before dm_control is first imported.
    os.environ["MUJOCO_GL"] = dmcs.select_gl_backend()
    print(f'MUJOCO_GL {os.environ["MUJOCO_GL"]}')
    rates = []
    for domain in _DOMAINS.value:
        rates.append(raw_fps(domain, _RAW_STEPS.value, _IMAGE_SIZE.value))
        print(f"raw_fps {domain} {rates[-1]:.1f}")
    print(f"raw_fps mean {np.mean(rates):.1f}")

    with tempfile.TemporaryDirectory() as output_dir:
        start = time.perf_counter()
        dmcs.generate(
            output_dir,
            domains=_DOMAINS.value,
            train_episodes=_EPISODES.value,
            test_episodes=0,
            episode_length=_EPISODE_LENGTH.value,
            image_size=_IMAGE_SIZE.value,
            num_workers=_WORKERS.value,
            progress=False,
        )
        wall = time.perf_counter() - start
    frames = len(_DOMAINS.value) * _EPISODES.value * _EPISODE_LENGTH.value
    print(f"generation_frames {frames}")
    print(f"generation_wall_s {wall:.2f}")
    print(f"generation_fps_total {frames / wall:.1f}")
    print(f"generation_fps_per_worker {frames / wall / _WORKERS.value:.1f}")


if __name__ == "__main__":
    app.run(main)
