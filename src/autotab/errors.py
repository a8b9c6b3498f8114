"""User-facing errors: one line, a non-zero exit, no traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A mistake in the user's data or config; the message says what is wrong and what to do."""


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's main function, turning a UserError into one line on stderr and exit code 2.

    Anything else is a bug in autotab and keeps its traceback.
    """
    try:
        main()
    except UserError as error:
        print(f"autotab {name}: error: {error}", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR) from None
