import os

import pytest

from video_structure import config
from video_structure.data import registry
from video_structure.downstream import tracking


@pytest.mark.parametrize("name", list(registry.DATASETS))
def test_every_spec_names_a_preset_a_selection_and_a_reader_or_scene(name):
    spec = registry.spec(name)
    assert spec.default_preset in config.PRESETS
    assert spec.tracking_selection in (tracking.SELECT_PER_OBJECT, tracking.SELECT_PER_SEQUENCE)
    assert (spec.scene is None) != (spec.reader is None)
    assert spec.default_dir is None or os.path.isabs(spec.default_dir)


def test_an_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="Unknown dataset 'nope'; choose one of synthetic"):
        registry.spec("nope")


@pytest.mark.parametrize("name", [n for n, s in registry.DATASETS.items() if s.reader])
def test_every_reader_is_imported_on_first_use_and_reads(tmp_path, name):
    (tmp_path / "train").mkdir()
    # An empty folder, named: the reader's module and function were found.
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        registry.spec(name).reader(str(tmp_path), "train", seq_len=3, batch_size=2)
