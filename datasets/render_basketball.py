r"""Renders the Basketball dataset (Section 5.1) from player and ball trajectories.

From Zhan et al.'s trajectories (the paper's source; layouts in
video_structure/data/basketball.py), from the repository root:

    PYTHONPATH=. python datasets/render_basketball.py --train=bball/train.npz \
        --test=bball/test.npz

Without --train and --test it writes synthetic plays
(video_structure/data/basketball_plays.py), as train.py --dataset=basketball
does on first use. Rerunning after an interruption resumes; train.py and
evaluate.py read the result with --dataset=basketball.
"""

from absl import app, flags

from video_structure import cli
from video_structure.data import basketball, basketball_plays

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", basketball.DEFAULT_DIR, "Dataset directory (train/ and test/ of .npz files)."
)
_TRAIN = flags.DEFINE_string(
    "train", None, "Trajectory file of the train split: .npz (array `data`), .npy or .txt."
)
_TEST = flags.DEFINE_string("test", None, "Trajectory file of the test split, as --train.")
_PLAY_LENGTH = flags.DEFINE_integer(
    "play_length", basketball.PLAY_LENGTH, "Steps per play of .txt files.", lower_bound=1
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Frame height and width.", lower_bound=8)
_TRAIN_PLAYS = flags.DEFINE_integer(
    "train_plays",
    basketball_plays.DEFAULT_TRAIN_PLAYS,
    "Synthetic plays of the train split (without --train and --test).",
    lower_bound=1,
)
_TEST_PLAYS = flags.DEFINE_integer(
    "test_plays",
    basketball_plays.DEFAULT_TEST_PLAYS,
    "Synthetic plays of the test split (without --train and --test).",
    lower_bound=1,
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the synthetic plays.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if (_TRAIN.value is None) != (_TEST.value is None):
        raise app.UsageError("Pass both --train and --test, or neither for synthetic plays.")
    try:
        if _TRAIN.value:
            splits = {
                "train": basketball.load_trajectories(_TRAIN.value, _PLAY_LENGTH.value),
                "test": basketball.load_trajectories(_TEST.value, _PLAY_LENGTH.value),
            }
            source = f"train {_TRAIN.value}, test {_TEST.value}"
        else:
            splits = basketball_plays.generate_splits(
                _TRAIN_PLAYS.value, _TEST_PLAYS.value, _SEED.value
            )
            source = basketball_plays.source(_SEED.value)
        basketball.write_dataset(_OUTPUT_DIR.value, splits, _IMAGE_SIZE.value, source)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from error


if __name__ == "__main__":
    cli.run(main)
