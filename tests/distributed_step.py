r"""One training step of a tiny Struct-VRNN under a tf.distribute strategy, for test_distribute.

    python tests/distributed_step.py STRATEGY NORMALIZATION EAGER OUT.npz [DEVICE,DEVICE]

writes the weights before and after one step on the global batch of
`batch()`, the step's logs and the replicas' random seeds. EAGER=1 runs the
step eagerly, three times faster to start than tracing it for two replicas on
a 2-core machine (tests/test_train.py runs train.py's traced steps on two).
The model is the deterministic Struct-RNN (latent means, no best of many)
at step 0, where scheduled sampling feeds the RNN the detected keypoints: its
step is a function of the weights and the batch alone, whichever random
streams the replicas draw. Every strategy must give one device's weights.
Logical CPU devices must exist before TensorFlow makes its devices, so
"mirrored" runs in a fresh process; under "multi_worker" the cluster comes
from TF_CONFIG.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

GLOBAL_BATCH = 4
TINY = dict(num_keypoints=4, encoder_filters=4, rnn_units=8, latent_size=4, batch_size=GLOBAL_BATCH)


def batch(cfg) -> dict[str, np.ndarray]:
    """The global batch: random frames, the same in every process."""
    shape = [GLOBAL_BATCH, cfg.sequence_length, cfg.image_size, cfg.image_size, cfg.image_channels]
    return {"frames": np.random.default_rng(7).uniform(size=shape).astype(np.float32)}


def one_step(
    strategy_name: str, normalization: str, eager: bool, devices=None
) -> dict[str, np.ndarray]:
    """Builds the tiny model under the strategy and trains it one step.

    Returns:
        {"before/<i>", "after/<i>": the i-th weight; "log/<name>": the step's
        logs; "seeds": [replicas, 2] what `distribute.replica_seed` makes of
        one seed on each replica}.
    """
    import keras
    import tensorflow as tf

    from video_structure import config, distribute, optimizers
    from video_structure import model as model_lib

    cfg = config.get_preset("synthetic", "struct_rnn", loss_normalization=normalization, **TINY)
    strategy = distribute.make_strategy(strategy_name, devices)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = model_lib.StructVRNN(cfg, seed=0)
        model.compile(
            optimizer=optimizers.make_optimizer(cfg, strategy.num_replicas_in_sync),
            run_eagerly=eager,
        )
        model.build_all()
    before = [np.array(w) for w in model.get_weights()]
    data = distribute.shard_by_data(tf.data.Dataset.from_tensors(batch(cfg)).repeat())
    logs = model.fit(data, epochs=1, steps_per_epoch=1, verbose=0).history
    result = {f"before/{i}": w for i, w in enumerate(before)}
    result.update({f"after/{i}": np.array(w) for i, w in enumerate(model.get_weights())})
    result.update({f"log/{name}": np.float64(values[-1]) for name, values in logs.items()})
    seeds = strategy.run(tf.function(lambda: distribute.replica_seed(tf.constant([1, 2]))))
    result["seeds"] = np.stack([np.array(s) for s in strategy.experimental_local_results(seeds)])
    return result


if __name__ == "__main__":
    name, normalization, eager, out = sys.argv[1:5]
    devices = sys.argv[5].split(",") if len(sys.argv) > 5 else None
    np.savez(out, **one_step(name, normalization, eager == "1", devices))
