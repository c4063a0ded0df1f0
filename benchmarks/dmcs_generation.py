r"""Benchmarks DMCS dataset generation against raw dm_control step + render.

Prints raw single-process step+render frames/s per domain, then frames/s per
worker of `dmcs.generate`, two ways:

* end to end: frames / wall time of one run, which includes starting the spawn
  workers, loading the environments and hashing the shards;
* steady state: the marginal rate between a run of --episodes and one of
  2 x --episodes per domain (extra frames / extra seconds), which cancels the
  fixed start-up costs and measures the workers while they render.

This script never imports TensorFlow.

    PYTHONPATH=. python benchmarks/dmcs_generation.py --workers=2
"""

import os
import tempfile
import time

import numpy as np
from absl import app, flags

from video_structure.data import dmcs

_DOMAINS = flags.DEFINE_list("domains", list(dmcs.DOMAINS), "Domains to benchmark.")
_RAW_STEPS = flags.DEFINE_integer(
    "raw_steps", 200, "Timed step+render calls per domain for the raw fps."
)
_EPISODES = flags.DEFINE_integer(
    "episodes", 2, "Train episodes per domain of the first generation run (the second: twice)."
)
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


def generation_seconds(episodes):
    """Wall seconds of generating `episodes` train episodes per domain."""
    with tempfile.TemporaryDirectory() as output_dir:
        start = time.perf_counter()
        dmcs.generate(
            output_dir,
            domains=_DOMAINS.value,
            train_episodes=episodes,
            test_episodes=0,
            episode_length=_EPISODE_LENGTH.value,
            # One episode per shard spreads the work evenly over the workers.
            episodes_per_shard=1,
            image_size=_IMAGE_SIZE.value,
            num_workers=_WORKERS.value,
            progress=False,
        )
        return time.perf_counter() - start


def main(argv):
    del argv
    # Rendering here needs the backend before dm_control is first imported.
    os.environ["MUJOCO_GL"] = dmcs.select_gl_backend()
    print(f"MUJOCO_GL {os.environ['MUJOCO_GL']}")
    rates = []
    for domain in _DOMAINS.value:
        rates.append(raw_fps(domain, _RAW_STEPS.value, _IMAGE_SIZE.value))
        print(f"raw_fps {domain} {rates[-1]:.1f}")
    print(f"raw_fps mean {np.mean(rates):.1f}")

    frames_per_episode = len(_DOMAINS.value) * _EPISODE_LENGTH.value
    frames = _EPISODES.value * frames_per_episode
    wall = generation_seconds(_EPISODES.value)
    wall_twice = generation_seconds(2 * _EPISODES.value)
    print(f"generation_frames {frames} and {2 * frames} with {_WORKERS.value} workers")
    print(f"generation_wall_s {wall:.2f} and {wall_twice:.2f}")
    print(f"generation_fps_per_worker_end_to_end {frames / wall / _WORKERS.value:.1f}")
    if wall_twice <= wall:
        # Start-up noise exceeded the extra work: no marginal rate to report.
        print(
            "generation_fps_per_worker_steady n/a (the longer run was not slower; raise --episodes)"
        )
        return
    steady = frames / (wall_twice - wall) / _WORKERS.value
    print(f"generation_fps_per_worker_steady {steady:.1f}")
    print(f"steady_over_raw {steady / np.mean(rates):.2f}")


if __name__ == "__main__":
    app.run(main)
