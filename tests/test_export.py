import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from video_structure import config, export, optimizers
from video_structure import model as model_lib

CONFIG = config.get_preset(
    "synthetic",
    num_keypoints=4,
    encoder_filters=4,
    rnn_units=8,
    latent_size=4,
    image_size=16,
    heatmap_size=8,
    observed_steps=3,
    predicted_steps=2,
    num_bom_samples=3,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = model_lib.StructVRNN(CONFIG, action_size=2)
    model.compile(optimizer=optimizers.make_optimizer(CONFIG))
    model.build_all()
    path = str(tmp_path_factory.mktemp("export") / "model")
    export.export(model, path)
    return model, path


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[1])


@pytest.mark.slow
def test_export_loads_in_a_fresh_process_without_video_structure(exported, tmp_path):
    model, path = exported
    rng = np.random.default_rng(0)
    frames = rng.uniform(size=(2, 3, 16, 16, 3)).astype(np.float32)
    actions = rng.uniform(size=(2, 5, 2)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", frames=frames, actions=actions)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({path!r})
        inputs = np.load({str(tmp_path / "inputs.npz")!r})
        out = loaded.rollout(inputs["frames"], tf.constant(4), tf.constant([7, 8]),
                             inputs["actions"])
        det = loaded.detect_keypoints(inputs["frames"])
        rec = loaded.reconstruct(det["keypoints"], inputs["frames"][:, 0],
                                 det["keypoints"][:, 0])
        assert "video_structure" not in sys.modules
        np.savez({str(tmp_path / "outputs.npz")!r}, keypoints=out["keypoints"].numpy(),
                 frames=out["frames"].numpy(), states=out["states"].numpy(),
                 detected=det["keypoints"].numpy(), reconstructed=rec["frames"].numpy(),
                 config=loaded.metadata()["config"].numpy())
    """)
    env = dict(os.environ, PYTHONPATH="")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path, env=env)
    outputs = np.load(tmp_path / "outputs.npz")
    assert outputs["keypoints"].shape == (2, 4, 5, 4, 3)
    assert outputs["frames"].shape == (2, 4, 5, 16, 16, 3)
    assert outputs["states"].shape == (2, 4, 5, 8)
    expected = model.rollout(tf.constant(frames), 4, 2, tf.constant([7, 8]), tf.constant(actions))
    np.testing.assert_allclose(outputs["keypoints"], expected["keypoints"].numpy(), atol=1e-5)
    np.testing.assert_allclose(outputs["detected"], model.detect(frames).numpy(), atol=1e-5)
    assert json.loads(outputs["config"].item())["num_keypoints"] == 4


def test_load_checks_the_format(exported, tmp_path):
    _, path = exported
    _, loaded_config, action_size = export.load(path)
    assert loaded_config == CONFIG.to_dict() and action_size == 2
    with pytest.raises(FileNotFoundError, match="no-such-dir"):
        export.load(str(tmp_path / "no-such-dir"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="saved_model.pb"):
        export.load(str(tmp_path / "empty"))
    other = tf.Module()
    other.f = tf.function(lambda: tf.constant(1.0), input_signature=[])
    tf.saved_model.save(other, str(tmp_path / "other"))
    with pytest.raises(ValueError, match="not a Struct-VRNN export"):
        export.load(str(tmp_path / "other"))


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda m, f, a: m.rollout(f, tf.constant(0), tf.constant([0, 0]), a),
            "num_samples: must be >= 1",
        ),
        (
            lambda m, f, a: m.rollout(f, tf.constant(-1), tf.constant([0, 0]), a),
            "num_samples: must be >= 1",
        ),
        (
            lambda m, f, a: m.rollout(f[:0], tf.constant(2), tf.constant([0, 0]), a[:0]),
            "frames: the batch is empty",
        ),
        (
            lambda m, f, a: m.rollout(f * 255, tf.constant(2), tf.constant([0, 0]), a),
            "frames: values outside [0, 1]",
        ),
        (lambda m, f, a: m.detect_keypoints(f + np.nan), "frames: NaN or infinite values"),
        (
            lambda m, f, a: m.rollout(f, tf.constant(2), tf.constant([0, 0]), a + np.inf),
            "actions: NaN or infinite values",
        ),
        (
            lambda m, f, a: m.reconstruct(tf.zeros([1, 2, 4, 3]), f[:, 0] * 3, tf.zeros([1, 4, 3])),
            "first_frame: values outside [0, 1]",
        ),
    ],
)
def test_exported_functions_refuse_values_out_of_range(loaded, call, message):
    frames = tf.fill([1, 3, 16, 16, 3], 0.5)
    actions = tf.zeros([1, 5, 2])
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        call(loaded, frames, actions)


def test_the_export_is_readable_by_others_and_a_damaged_one_is_named(exported, tmp_path):
    assert os.stat(exported[1]).st_mode & 0o777 == 0o755
    path = tmp_path / "model"
    shutil.copytree(exported[1], path)
    graph = path / "saved_model.pb"
    graph.write_bytes(graph.read_bytes()[:100])
    with pytest.raises(ValueError, match="is a damaged SavedModel"):
        export.load(str(path))


def test_export_replaces_an_old_export_whole_tracing_each_function_once(exported, monkeypatch):
    model, path = exported
    traces = []
    rollout = model.rollout

    def traced_rollout(*args):
        traces.append(args)
        return rollout(*args)

    monkeypatch.setattr(model, "rollout", traced_rollout)
    export.export(model, path)
    assert len(traces) == 1  # Not traced again under tf.saved_model.save's save context.
    siblings = os.listdir(os.path.dirname(path))
    assert siblings == ["model"]


# Variants that change only loss scales export struct_vrnn's graph: one
# export of it covers them (each export costs about 9 s).
EXPORTED_VARIANTS = [
    name
    for name, changes in config.VARIANTS.items()
    if not changes or not set(changes) <= {"separation_scale", "sparsity_scale"}
]


@pytest.mark.slow
@pytest.mark.parametrize("variant", EXPORTED_VARIANTS)
def test_every_variant_exports(tmp_path, variant):
    cfg = CONFIG.replace(**config.VARIANTS[variant])
    model = model_lib.StructVRNN(cfg)
    model.compile(optimizer=optimizers.make_optimizer(cfg))
    model.build_all()
    export.export(model, str(tmp_path / "model"))
    loaded, loaded_config, _ = export.load(str(tmp_path / "model"))
    assert loaded_config == cfg.to_dict()
    frames = np.random.default_rng(0).uniform(size=(1, 3, 16, 16, 3)).astype(np.float32)
    out = loaded.rollout(frames, tf.constant(2), tf.constant([0, 1]))
    np.testing.assert_allclose(
        out["keypoints"].numpy(),
        model.rollout(frames, 2, 2, tf.constant([0, 1]))["keypoints"].numpy(),
        atol=1e-5,
    )
