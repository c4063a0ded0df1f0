"""experiments.collection: an export run over a split."""

import numpy as np
import pytest

from video_structure.data import synthetic
from video_structure.experiments import collection


@pytest.mark.slow
def test_collect_runs_the_export_over_whole_and_partial_batches(tiny_export):
    model, path, cfg = tiny_export(3, 2)  # Shared with test_evaluate.py.
    arrays = collection.collect(
        path, "synthetic", "test", num_sequences=5, num_samples=3, batch_size=2, seed=1
    )
    assert sorted(arrays) == ["keypoints", "observed_keypoints", "positions", "states"]
    assert arrays["keypoints"].shape == (5, 3, 5, 4, 3)
    assert arrays["observed_keypoints"].shape == (5, 5, 4, 3)
    assert arrays["states"].shape == (5, 5, 8)
    assert arrays["positions"].shape == (5, 5, 3, 2)
    frames, positions = synthetic.generate(6, 5, cfg.image_size, seed=1, split="test")
    # The pipeline shuffles: match collected sequences to generated ones by positions.
    order = [int(np.argmin(np.abs(positions - p).sum(axis=(1, 2, 3)))) for p in arrays["positions"]]
    assert len(set(order)) == 5
    np.testing.assert_allclose(positions[order], arrays["positions"])
    detected = model.detect(frames[order].astype(np.float32) / 255.0).numpy()
    np.testing.assert_allclose(arrays["observed_keypoints"], detected, atol=1e-5)
    samples = arrays["keypoints"]
    assert not np.allclose(samples[:, 0, 3:], samples[:, 1, 3:])  # Prior samples differ.
    with pytest.raises(ValueError, match="num_samples"):
        collection.collect(path, "synthetic", "test", 2, 0, 2)
