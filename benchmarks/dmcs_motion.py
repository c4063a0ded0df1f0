r"""Measures how much random-action DMCS episodes move, per domain and setting.

For every domain and every combination of --action_repeats, --action_holds and
--distributions, simulates --episodes train episodes exactly as the generator
does (same seeds, same actions; frames are not rendered) and prints
`dmcs.motion_statistics` of their windows of `dmcs.STATISTICS_WINDOW` frames:
the bodies' mean displacement from a window's first to its last frame, in
pixels of the presets' 16x16 heatmaps, and the fraction of windows whose
reward varies. docs/fidelity.md chose the generator's defaults from this table.
This script never imports TensorFlow.

    PYTHONPATH=. python benchmarks/dmcs_motion.py --action_repeats=1,2,4,8 \
        --action_holds=1,2,4 --distributions=uniform,extremes
"""

import itertools

import numpy as np
from absl import app, flags

from video_structure.data import dmcs

_DOMAINS = flags.DEFINE_list("domains", list(dmcs.DOMAINS), "Domains to measure.")
_REPEATS = flags.DEFINE_list("action_repeats", ["1", "4"], "Control steps per frame.")
_HOLDS = flags.DEFINE_list("action_holds", ["1", "2"], "Frames each random action is held.")
_DISTRIBUTIONS = flags.DEFINE_list(
    "distributions", list(dmcs.ACTION_DISTRIBUTIONS), "Random action distributions."
)
_EPISODES = flags.DEFINE_integer("episodes", 4, "Episodes per setting.", lower_bound=1)
_EPISODE_LENGTH = flags.DEFINE_integer(
    "episode_length", 100, "Frames per episode.", lower_bound=dmcs.STATISTICS_WINDOW + 1
)


def measure(env, domain, repeat, hold, distribution):
    """motion_statistics of the first --episodes train episodes of one setting."""
    num_bodies = env.physics.model.nbody - 1
    dtype = dmcs.record_dtype(_EPISODE_LENGTH.value, 1, env.action_spec().shape[0], num_bodies)
    records = np.zeros(_EPISODES.value, dtype)
    for episode, record in enumerate(records):
        seed_sequence = dmcs.episode_seed(0, "train", domain, episode)
        dmcs.generate_episode(
            env,
            seed_sequence,
            _EPISODE_LENGTH.value,
            64,
            repeat,
            hold,
            distribution,
            record,
            render=False,
        )
    return dmcs.motion_statistics(records["positions"], records["rewards"])


def main(argv):
    del argv
    print(f"{'domain':18s} {'distribution':12s} repeat hold  displacement (px)  reward varies")
    for domain in _DOMAINS.value:
        env = dmcs.load_env(domain)
        settings = itertools.product(_DISTRIBUTIONS.value, _REPEATS.value, _HOLDS.value)
        for distribution, repeat, hold in settings:
            stats = measure(env, domain, int(repeat), int(hold), distribution)
            print(
                f"{domain:18s} {distribution:12s} {repeat:>6s} {hold:>4s}  "
                f"{stats['displacement_heatmap_pixels']:17.2f}  {stats['reward_varies']:13.2f}",
                flush=True,
            )


if __name__ == "__main__":
    app.run(main)
