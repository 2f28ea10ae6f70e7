"""Run the `dcrload` command line as a user would: in a subprocess from the repository, or
(`dcrload_here`) in this process where only the command's own work is under test."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FRESH_INTERPRETER_FILTERS = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)
"""The warning filters a fresh `python` starts with (release build, no -W): what a user's
terminal would show of a command's warnings."""


def dcrload(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m dcrload ARGS` with captured text output (rich tables 120 columns wide)."""
    return subprocess.run(
        [sys.executable, "-m", "dcrload", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
    )


@contextlib.contextmanager
def _environment(changes: dict[str, str]) -> Iterator[None]:
    """`os.environ` with `changes` for the duration, as it was afterwards."""
    before = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def dcrload_here(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`dcrload ARGS` in this process, output captured, tables 120 columns wide: for runs
    whose interpreter start-up (0.7 s of CPU) would be much of their cost. `cwd` and `env`
    apply for the command's duration, as `dcrload` gives them to a subprocess.

    What a subprocess would print stays visible: warnings go to the captured stderr under a
    fresh interpreter's filters (not to pytest's record), `SystemExit` is an exit status.
    Not for commands that fork a process pool (`--jobs 1`: forking the test process is not
    what a user's command does), nor where a signal's effect on the process is the point.
    """
    from dcrload.cli import main

    out, err = io.StringIO(), io.StringIO()
    # main() installs its own SIGTERM/SIGHUP handlers: the test process gets its own back
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with (
            _environment({"COLUMNS": "120", **(env or {})}),
            contextlib.chdir(cwd or os.getcwd()),
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            warnings.resetwarnings()
            for action, category, module in reversed(FRESH_INTERPRETER_FILTERS):
                warnings.filterwarnings(action, category=category, module=module)
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse's --help, for one
                code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    shown = "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line) for w in caught
    )
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue() + shown)
