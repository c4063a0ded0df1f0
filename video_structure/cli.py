"""What the command-line scripts share: a quiet start, one-line usage errors, hyperparameter flags.

absl's `app.run` answers an `app.UsageError` with the help of every flag
(some 180 lines for train.py) above the one line that matters; `run` prints
that line alone. `start_tensorflow` imports TensorFlow without the notices its
C++ start-up prints whatever TF_CPP_MIN_LOG_LEVEL says.
"""

import os
import sys
import tempfile

from absl import app, flags

from video_structure import config as config_lib

# The exit status of a usage or data error, as argparse's.
USAGE_EXIT_CODE = 2

# What TensorFlow 2.21's C++ start-up writes to stderr on a CPU machine, before
# absl logging is initialised and so past TF_CPP_MIN_LOG_LEVEL
# (tensorflow/tensorflow#100442): notices a user cannot act on, the "failed
# call to cuInit" among them, although no GPU is asked for.
_STARTUP_NOTICES = (
    "All log messages before absl::InitializeLog() is called",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
)


def start_tensorflow(onednn: bool = True) -> None:
    """Imports TensorFlow and finds its devices with the start-up notices held back.

    Everything written to the stderr file descriptor meanwhile is captured;
    every line but `_STARTUP_NOTICES` is written back afterwards, also when
    the import fails. Call it before anything imports TensorFlow or Keras.

    Args:
        onednn: default of TF_ENABLE_ONEDNN_OPTS (oneDNN made training
            1.5-1.7x faster on the AMD CPUs we measured, where it is off by
            default; it must be set before TensorFlow loads). An explicit
            environment setting wins.
    """
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1" if onednn else "0")
    # 3 hides C++ ERROR lines too: the one TensorFlow 2.21 prints during
    # training is grappler's "remapper failed: ... LeakyReluGrad exist for
    # missing node ... BiasAdd", a known fusion bug after which the graph runs
    # unfused. That costs nothing we could measure: with leaky ReLU written as
    # max(x, 0.2 x) the pass succeeds and dmcs_cpu's step took the same 1.02 s
    # at batch 8 (quiet machine, A B A B), with 0.1-0.2 GiB more memory.
    # Failures that matter raise Python exceptions; set
    # TF_CPP_MIN_LOG_LEVEL=0 to see every C++ log line.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # Creating the devices prints the rest.
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not any(notice in line for notice in _STARTUP_NOTICES):
                    sys.stderr.write(line)
            sys.stderr.flush()


def define_data_dir_flag(default_dirs: dict[str, str], datasets: str = "file-based datasets"):
    """Defines --data_dir, whose help lists each dataset's default directory.

    Args:
        default_dirs: {dataset: directory}, `registry.default_data_dirs()` (taken
            as an argument: the registry imports TensorFlow, this module must not).
        datasets: which datasets read the flag, for its help.
    """
    defaults = ", ".join(f"({name}: {path})" for name, path in default_dirs.items())
    flags.DEFINE_string(
        "data_dir", None, f"Dataset directory of {datasets}; default the dataset's {defaults}."
    )


def define_hyperparameter_flags(skip=()) -> None:
    """Defines one flag per hyperparameter (`config.fields()`), named as the field.

    Each defaults to None, the preset's value; `hyperparameter_overrides` reads
    them back.

    Args:
        skip: field names the script sets with flags of its own.
    """
    for field in config_lib.fields():
        if field.name in skip:
            continue
        help_text = f"{field.metadata['help']} Overrides the preset."
        if field.type is bool:
            flags.DEFINE_bool(field.name, None, help_text)
        elif field.type is str:
            flags.DEFINE_enum(field.name, None, field.metadata["choices"], help_text)
        elif field.type is int:
            flags.DEFINE_integer(field.name, None, help_text)
        else:
            flags.DEFINE_float(field.name, None, help_text)


def hyperparameter_overrides(skip=()) -> dict:
    """{field: value} of the flags of `define_hyperparameter_flags(skip)` that were set."""
    values = {
        field.name: flags.FLAGS[field.name].value
        for field in config_lib.fields()
        if field.name not in skip
    }
    return {name: value for name, value in values.items() if value is not None}


def fail(message: str, exitcode: int = USAGE_EXIT_CODE, now: bool = False) -> None:
    """Prints `<script>: error: message` to stderr and exits.

    Args:
        message: one line naming the file, flag or value at fault.
        exitcode: the process's exit status.
        now: end the process at once (`os._exit`), without the interpreter's
            shutdown, which would destroy what is left, such as a tf.data
            iterator whose destructor can wait forever.
    """
    print(f"{os.path.basename(sys.argv[0])}: error: {message}", file=sys.stderr, flush=True)
    if now:
        sys.stdout.flush()
        os._exit(exitcode)
    sys.exit(exitcode)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e))


def run(main) -> None:
    """`app.run(main)`, with flag errors and `app.UsageError`s from `main` as one line."""

    def guarded(argv):
        try:
            main(argv)
        except app.UsageError as e:
            fail(str(e))

    app.run(guarded, flags_parser=_parse_flags)
