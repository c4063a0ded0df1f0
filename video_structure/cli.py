"""What the command-line scripts share: a usage error is one line, never a dump of every flag.

absl's `app.run` answers an `app.UsageError` with the help of every flag
(some 180 lines for train.py) above the one line that matters; `run` prints
that line alone.
"""

import os
import sys

from absl import app
from absl import flags

# The exit status of a usage or data error, as argparse's.
USAGE_EXIT_CODE = 2


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
        os._exit(exitcode)  # pylint: disable=protected-access
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
