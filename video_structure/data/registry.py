"""The datasets every CLI knows: one spec each (in the style of dm_control's suite).

To add a dataset: a reader in video_structure/data/ returning the batches of
video_structure/data/__init__.py, and one `DatasetSpec` entry in `DATASETS`.
`video_structure.data.loading` makes the tf.data pipelines of a spec.

This module does not import TensorFlow, nor do the modules it imports: the
CLIs define their flags from it and answer --help and bad flags before they
start TensorFlow, whose import takes seconds. The readers, which need
TensorFlow, are imported on their first call (`_lazy`).
"""

import dataclasses
import importlib
import os
from collections.abc import Callable

from video_structure.data import basketball, basketball_plays, dmcs, human36m_release


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Everything the CLIs and the runner know about one dataset.

    Attributes:
        description: one line for --help.
        default_preset: the `config.PRESETS` entry it trains with by default.
        tracking_selection: how best-of-N picks samples for tracking (Figure 4,
            footnote 3): "object" where the objects are separable (blobs,
            sprites, Basketball's players, which the npz format's default
            preset models), "sequence" for articulated bodies (DMCS,
            Human3.6M) and unknown content.
        default_dir: where the dataset lives when --data_dir is not given
            (absolute, inside the checkout), or None (generated in memory, or
            the user's own files).
        scene: the `synthetic.generate` scene of a dataset generated in memory.
        reader: fn(data_dir, split, **window options) -> tf.data.Dataset of a
            dataset read from files (`_lazy`); None for one generated in memory.
        prepare: fn(data_dir, image_size, options) that writes the dataset to
            data_dir unless it is there (train.py's first use; `options`, a
            `run_options.Options`, gives the seed and sizes), or None.
    """

    description: str
    default_preset: str
    tracking_selection: str  # downstream.tracking.SELECT_PER_OBJECT or SELECT_PER_SEQUENCE
    default_dir: str | None = None
    scene: str | None = None
    reader: Callable | None = None
    prepare: Callable | None = None


def _lazy(reference: str) -> Callable:
    """The function `reference` ("module:function"), imported on its first call."""
    module, name = reference.split(":")

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


def _split_folder(reader, what, how=""):
    """A reader of <data_dir>/<split> folders that names a missing one (and `how` to make it)."""

    def read(data_dir, split, **options):
        split_dir = os.path.join(data_dir, split)
        if not os.path.isdir(split_dir):
            raise FileNotFoundError(
                f"The {what} dataset expects the {split} split in {split_dir}, which does not "
                "exist." + (f" {how}" if how else "")
            )
        return reader(split_dir, **options)

    return read


DATASETS: dict[str, DatasetSpec] = {
    "synthetic": DatasetSpec(
        "coloured blobs bouncing in a box, generated in memory (no files needed)",
        "synthetic",
        "object",
        scene="blobs",
    ),
    "sprites": DatasetSpec(
        "a square, a triangle and a ring bouncing over a smooth multicoloured "
        "background that changes from sequence to sequence, generated in memory",
        "synthetic",
        "object",
        scene="sprites",
    ),
    "dmcs": DatasetSpec(
        "DeepMind Control Suite random-action episodes of six domains with actions, "
        "rewards and body positions (train.py generates them on first use)",
        "dmcs",
        "sequence",
        default_dir=dmcs.DEFAULT_DIR,
        reader=_lazy("video_structure.data.dmcs_reader:dmcs_dataset"),
        prepare=lambda data_dir, image_size, options: dmcs.prepare(
            data_dir,
            image_size,
            options.seed,
            options.dmcs_train_episodes,
            options.dmcs_test_episodes,
            options.dmcs_episode_length,
        ),
    ),
    "basketball": DatasetSpec(
        "Section 5.1's Basketball: plays drawn as five coloured players and a yellow ball "
        "on a court, with their positions (train.py writes synthetic plays on first use; "
        "datasets/render_basketball.py renders Zhan et al.'s trajectories)",
        "basketball",
        "object",
        default_dir=basketball.DEFAULT_DIR,
        reader=_split_folder(
            _lazy("video_structure.data.npz:npz_dataset"),
            "basketball",
            "train.py --dataset=basketball writes synthetic plays there; "
            "datasets/render_basketball.py renders real ones.",
        ),
        prepare=lambda data_dir, image_size, options: basketball_plays.prepare(
            data_dir, image_size, options.seed
        ),
    ),
    "human36m": DatasetSpec(
        "Human3.6M at 64x64 and 6.25 Hz with 12 joints and the action label of each "
        "video (datasets/prepare_human36m.py makes it from the licensed release)",
        "human36m",
        "sequence",
        default_dir=human36m_release.DEFAULT_DIR,
        reader=_split_folder(
            _lazy("video_structure.data.npz:npz_dataset"),
            "human36m",
            "datasets/prepare_human36m.py makes it from the Human3.6M release.",
        ),
    ),
    "npz": DatasetSpec(
        "the authors' format: one .npz per sequence (image uint8 [T,H,W,C]; optional "
        "true_object_pos, action, reward) in <data_dir>/train and <data_dir>/test",
        "basketball",
        "object",
        reader=_split_folder(_lazy("video_structure.data.npz:npz_dataset"), "npz"),
    ),
    "videos": DatasetSpec(
        "your videos: sub-folders of frames (.png/.jpg, in name order) and animated "
        "GIFs in <data_dir>/train and <data_dir>/test",
        "basketball",
        "sequence",
        reader=_split_folder(_lazy("video_structure.data.video_folders:video_dataset"), "videos"),
    ),
}


def spec(name: str) -> DatasetSpec:
    """The spec of dataset `name`; ValueError naming the known ones otherwise."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    return DATASETS[name]


def default_data_dir(name: str) -> str | None:
    """Where dataset `name` lives without --data_dir (None: generated or the user's)."""
    return spec(name).default_dir


def default_data_dirs() -> dict[str, str]:
    """{dataset: default directory} of the datasets that have one, for --help."""
    return {name: s.default_dir for name, s in DATASETS.items() if s.default_dir}


def descriptions() -> str:
    """One line per dataset for --help."""
    return "; ".join(f"{name}: {s.description}" for name, s in DATASETS.items())
