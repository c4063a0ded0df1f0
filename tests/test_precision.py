"""Mixed precision: a few training steps under each Keras dtype policy track float32's losses."""

import distributed_step
import keras
import numpy as np
import pytest
import tensorflow as tf

from video_structure import config, optimizers, precision
from video_structure import model as model_lib

STEPS = 3
# Relative tolerance of every logged term at every step against float32: the
# nets' activations carry 8 (bfloat16) or 11 (float16) significant bits, 4e-3
# and 5e-4 relative rounding, and the weights drift apart step by step; the
# terms, computed in float32 from them, measured within 6e-3 (bfloat16) and
# 2.1e-3 (float16, the future term at step 3) of float32's.
TOLERANCE = {"mixed_bfloat16": 2e-2, "mixed_float16": 1e-2}
TERMS = ("loss", "image", "separation", "sparsity", "vrnn", "kl", "future")


def train(policy):
    cfg = config.get_preset("synthetic", **distributed_step.TINY)
    keras.utils.set_random_seed(0)
    with precision.policy(policy):
        model = model_lib.StructVRNN(cfg, seed=0)
    # Eagerly: three steps run faster than tracing one.
    model.compile(optimizer=optimizers.make_optimizer(cfg, policy=policy), run_eagerly=True)
    model.build_all()
    data = tf.data.Dataset.from_tensors(distributed_step.batch(cfg)).repeat()
    history = model.fit(data, epochs=STEPS, steps_per_epoch=1, verbose=0).history
    return model, history


@pytest.fixture(scope="module")
def float32_history():
    return train("float32")[1]


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(TOLERANCE))
def test_a_few_steps_track_float32(policy, float32_history):
    model, history = train(policy)
    low = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[policy]
    assert model.detector.encoder.convs[0].compute_dtype == low
    assert model.vrnn.gru.compute_dtype == low
    # The keypoint ops, reconstructions and the VRNN's outputs are float32.
    frames = tf.zeros([1, model.config.sequence_length, 32, 32, 3])
    assert model.detect(frames).dtype == tf.float32
    assert model(frames).dtype == tf.float32
    # Every step was applied (float16's loss scaling skips none of them).
    assert int(model.optimizer.iterations) == STEPS
    assert float32_history["loss"][-1] < float32_history["loss"][0]
    for term in TERMS:
        np.testing.assert_allclose(
            history[term], float32_history[term], rtol=TOLERANCE[policy], err_msg=term
        )


def test_an_unknown_policy_is_named():
    with pytest.raises(ValueError, match="--mixed_precision=float8 is not one of"):
        with precision.policy("float8"):
            pass
    assert keras.config.dtype_policy().name == "float32"
