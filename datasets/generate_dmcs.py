r"""Generates the random-action DeepMind Control Suite dataset (paper S2.3).

Example, from the repository root:

    PYTHONPATH=. python datasets/generate_dmcs.py --train_episodes=1000 \
        --test_episodes=100 --episode_length=100 --workers=8

Rerunning the same command after an interruption resumes it. Rendering is
headless: set MUJOCO_GL=egl or MUJOCO_GL=osmesa, or leave it unset to pick the
first that works. See video_structure/data/dmcs/manifest.py for the file format.

On N machines or jobs, each runs the same command with --num_shards=N and its
own --shard_index=i in [0, N) into one --output_dir (a shared file system, or
the directories copied into one afterwards); then

    PYTHONPATH=. python datasets/generate_dmcs.py merge --output_dir=DIR

checks the parts and writes manifest.json: together they make the dataset one
machine would, byte for byte. merge reads only --output_dir; running it again
verifies again. See video_structure/data/dmcs/sharding.py.
"""

from absl import app, flags

from video_structure import cli
from video_structure.data import dmcs

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir",
    dmcs.DEFAULT_DIR,
    "Directory for the shards and manifest.json (of every part, with --num_shards); "
    "rerunning with the same flags resumes an interrupted run there. The one flag merge reads.",
)
_DOMAINS = flags.DEFINE_list(
    "domains",
    list(dmcs.DOMAINS),
    "Comma-separated domain/task names; their order defines the domain "
    f"indices. Known: {','.join(dmcs.DOMAINS)}.",
)
_TRAIN_EPISODES = flags.DEFINE_integer(
    "train_episodes",
    dmcs.DEFAULT_TRAIN_EPISODES,
    "Episodes per domain in the train split (the default is train.py's CPU-sized dataset).",
    lower_bound=0,
)
_TEST_EPISODES = flags.DEFINE_integer(
    "test_episodes",
    dmcs.DEFAULT_TEST_EPISODES,
    "Episodes per domain in the test split.",
    lower_bound=0,
)
_EPISODE_LENGTH = flags.DEFINE_integer(
    "episode_length",
    dmcs.DEFAULT_EPISODE_LENGTH,
    "Frames per episode: the frame after reset plus episode_length - 1 random actions.",
    lower_bound=1,
)
_EPISODES_PER_SHARD = flags.DEFINE_integer(
    "episodes_per_shard", 10, "Episodes per shard file.", lower_bound=1
)
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", 64, "Frame height and width in pixels.", lower_bound=1
)
_ACTION_REPEAT = flags.DEFINE_integer(
    "action_repeat",
    None,
    "Control steps per recorded frame, for every domain (a frame's reward is the mean over "
    "them); default per domain: "
    + ", ".join(f"{d} {k}" for d, k in dmcs.DEFAULT_ACTION_REPEAT.items())
    + ".",
    lower_bound=1,
)
_ACTION_HOLD = flags.DEFINE_integer(
    "action_hold",
    dmcs.DEFAULT_ACTION_HOLD,
    "Recorded frames each random action is held for.",
    lower_bound=1,
)
_ACTION_DISTRIBUTION = flags.DEFINE_enum(
    "action_distribution",
    dmcs.ACTION_DISTRIBUTIONS[0],
    dmcs.ACTION_DISTRIBUTIONS,
    "Random actions: each component at a bound of the action spec (extremes) or uniform "
    "between the bounds.",
)
_WORKERS = flags.DEFINE_integer(
    "workers",
    None,
    "Rendering worker processes (default: the CPUs this process may use).",
    lower_bound=1,
)
_SEED = flags.DEFINE_integer(
    "seed",
    0,
    "Base seed; train and test episodes get disjoint seeds derived from it.",
    lower_bound=0,
)
_NUM_SHARDS = flags.DEFINE_integer(
    "num_shards",
    1,
    "Machines or jobs that share the generation. With N > 1 this run renders one part, "
    "every N-th shard file from --shard_index on, and writes the part's record instead of "
    "manifest.json; `merge` writes the manifest once every part has finished.",
    lower_bound=1,
)
_SHARD_INDEX = flags.DEFINE_integer(
    "shard_index",
    0,
    "The part this run renders, in [0, --num_shards) (e.g. $SLURM_ARRAY_TASK_ID).",
    lower_bound=0,
)
flags.register_multi_flags_validator(
    ["num_shards", "shard_index"],
    lambda values: values["shard_index"] < values["num_shards"],
    "--shard_index must be below --num_shards: parts are numbered 0 to N - 1",
)


def main(argv):
    if argv[1:] not in ([], ["merge"]):
        raise app.UsageError(f"Unexpected arguments: {argv[1:]} (the one command is merge)")
    merging = argv[1:] == ["merge"]
    try:
        if merging:
            manifest = dmcs.merge(_OUTPUT_DIR.value)
        else:
            manifest = dmcs.generate(
                _OUTPUT_DIR.value,
                domains=_DOMAINS.value,
                train_episodes=_TRAIN_EPISODES.value,
                test_episodes=_TEST_EPISODES.value,
                episode_length=_EPISODE_LENGTH.value,
                episodes_per_shard=_EPISODES_PER_SHARD.value,
                image_size=_IMAGE_SIZE.value,
                action_repeat=_ACTION_REPEAT.value,
                action_hold=_ACTION_HOLD.value,
                action_distribution=_ACTION_DISTRIBUTION.value,
                seed=_SEED.value,
                num_parts=_NUM_SHARDS.value,
                part_index=_SHARD_INDEX.value,
                num_workers=_WORKERS.value,
            )
    except (ValueError, FileNotFoundError) as error:  # Flags or the existing data.
        raise app.UsageError(str(error)) from error
    except RuntimeError as error:  # A dead worker or no GL backend: the message says what to do.
        cli.fail(str(error), exitcode=1)
    if not merging and _NUM_SHARDS.value > 1:  # One part's record, no manifest yet.
        print(
            f"Wrote part {_SHARD_INDEX.value} of {_NUM_SHARDS.value} "
            f"({len(manifest['shards'])} shards) to {_OUTPUT_DIR.value}; once every part has "
            f"finished: python datasets/generate_dmcs.py merge --output_dir={_OUTPUT_DIR.value}"
        )
        return
    print(f"Wrote {len(manifest['shards'])} shards to {_OUTPUT_DIR.value}")
    for split in dmcs.SPLITS:
        print(dmcs.format_statistics(manifest, split))


if __name__ == "__main__":
    cli.run(main)
