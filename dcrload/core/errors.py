"""The two kinds of error dcrload raises, so that blame stays clear.

`UsageError` is the user's: a bad scenario file, a bad ``--set``, a missing file. The
command line prints it as one line and exits with status 2, with no traceback.
`LifecycleError` is ours: a driver broke the lifecycle's protocol (asked for a second
action before answering the first, fed a response nobody asked for). It is a bug and is
never caught.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user; the message is one line naming what was wrong."""


class LifecycleError(RuntimeError):
    """A driver misused the sans-IO lifecycle (an illegal transition)."""
