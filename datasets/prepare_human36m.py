r"""Makes the paper's Human3.6M dataset from the licensed release (Sections 5.1, S2.2).

Unpack the release's Videos and D2_Positions archives of subjects S1, S5, S6,
S7, S8, S9 and S11 into one directory (S1/Videos/*.mp4,
S1/MyPoseFeatures/D2_Positions/*.cdf, ...), install the readers with
`pip install -e ".[human36m]"`, then, from the repository root:

    PYTHONPATH=. python datasets/prepare_human36m.py --release_dir=/path/to/h36m

video_structure/data/human36m_release.py says what is written. Rerunning
after an interruption resumes; train.py, evaluate.py and
scripts/run_experiments.py read the result with --dataset=human36m.
"""

from absl import app, flags

from video_structure import cli
from video_structure.data import human36m_release

_RELEASE_DIR = flags.DEFINE_string(
    "release_dir", None, "The unpacked release: S1/Videos, S1/MyPoseFeatures/D2_Positions, ..."
)
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir",
    human36m_release.DEFAULT_DIR,
    "Dataset directory (train/ and test/ of .npz files).",
)
_IMAGE_SIZE = flags.DEFINE_integer("image_size", 64, "Frame height and width.", lower_bound=8)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _RELEASE_DIR.value:
        raise app.UsageError("--release_dir is required: the unpacked Human3.6M release.")
    try:
        marker = human36m_release.prepare(_RELEASE_DIR.value, _OUTPUT_DIR.value, _IMAGE_SIZE.value)
    except (ValueError, FileNotFoundError, ImportError) as error:
        raise app.UsageError(str(error)) from error
    print(f"Wrote {marker['videos']} videos to {_OUTPUT_DIR.value}.")


if __name__ == "__main__":
    cli.run(main)
