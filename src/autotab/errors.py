"""User-facing errors: one line, a non-zero exit, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C


class UserError(Exception):
    """A mistake in the user's data or config; the message says what is wrong and what to do."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's main function, turning a UserError into one line on stderr and exit code 2, and
    an interrupt (Ctrl-C) into one line and exit code 130: what it says, if the stage said more
    (`KeyboardInterrupt("...")`), else that nothing was written.

    Anything else is a bug in autotab and keeps its traceback.

    A stage that has loaded pyarrow (one that reads or writes tables) gets Arrow's memory from
    jemalloc first (`tables.use_jemalloc_for_arrow`): a choice for the whole process, so it is made
    here, where autotab owns the process, not when a library imports autotab (the served model).
    """
    if "pyarrow" in sys.modules:
        from autotab.tables import use_jemalloc_for_arrow

        use_jemalloc_for_arrow()
    try:
        main()
    except UserError as error:
        print(f"autotab {name}: error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
    except KeyboardInterrupt as interrupt:
        said = str(interrupt) or "no output was written (each is replaced whole); rerun to start again"
        print(f"autotab {name}: interrupted: {said}", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
