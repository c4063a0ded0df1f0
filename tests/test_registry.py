import json
import os

import pytest

from video_structure import config, run_options
from video_structure.data import basketball, basketball_plays, dmcs, registry
from video_structure.data.dmcs import generation
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


def test_datasets_written_on_first_use_prepare_from_the_options(tmp_path, monkeypatch):
    assert {n for n, s in registry.DATASETS.items() if s.prepare} == {"dmcs", "basketball"}
    monkeypatch.setattr(basketball_plays, "DEFAULT_TRAIN_PLAYS", 1)
    monkeypatch.setattr(basketball_plays, "DEFAULT_TEST_PLAYS", 1)
    registry.spec("basketball").prepare(str(tmp_path), 16, run_options.Options(seed=3))
    metadata = json.loads((tmp_path / basketball.MARKER_NAME).read_text())
    assert metadata["source"] == basketball_plays.source(3)


def test_dmcs_prepare_keeps_an_existing_dataset_and_names_the_sizes_it_has(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / dmcs.MANIFEST_NAME).write_text("{}")
    monkeypatch.setattr(generation, "load_manifest", lambda data_dir: {"data_dir": data_dir})
    monkeypatch.setattr(
        generation, "size_differences", lambda manifest, **sizes: "train_episodes=4"
    )
    monkeypatch.setattr(generation, "generate", None)  # Called, it would raise TypeError.
    options = run_options.Options(dmcs_train_episodes=2)
    registry.spec("dmcs").prepare(str(tmp_path), 64, options)
    assert "which has train_episodes=4; the --dmcs_* flags apply only" in capsys.readouterr().out
