"""train.py with a fault injected, for the fault-injection tests of test_train.py.

    python tests/faulty_train.py --fault=FAULT [train.py flags]

FAULT is one of:

* `kill_at_checkpoint=N`: the process kills itself with SIGKILL while it
  writes checkpoint N, after the shards are in `ckpt-N_temp/` and before they
  are merged into `ckpt-N.index` and `.data`.
* `unvalidated_data`: the data's pixels and npz arrays are not checked when
  the dataset is built, so a corrupt file is first met during training.
"""

import os
import signal
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tensorflow.python.ops import gen_io_ops

import train
from video_structure import cli
from video_structure.data import npz, video_folders


def _kill_at_checkpoint(number):
    merge = gen_io_ops.merge_v2_checkpoints

    def killing_merge(prefixes, destination, *args, **kwargs):
        if os.path.basename(str(destination.numpy().decode())) == f"ckpt-{number}":
            os.kill(os.getpid(), signal.SIGKILL)
        return merge(prefixes, destination, *args, **kwargs)

    gen_io_ops.merge_v2_checkpoints = killing_merge


def main():
    fault = sys.argv.pop(1)
    name, _, value = fault.removeprefix("--fault=").partition("=")
    if name == "kill_at_checkpoint":
        _kill_at_checkpoint(int(value))
    elif name == "unvalidated_data":
        video_folders._decode_all = lambda image, path: None
        npz._check_npz_data = lambda path, keys: None
    else:
        raise SystemExit(f"unknown fault {fault}")
    sys.argv[0] = os.path.join(ROOT, "train.py")
    cli.run(train.main)


if __name__ == "__main__":
    main()
