"""Run the `dcrload` command line in a subprocess, as a user would, from the repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def dcrload_here(*args: str) -> subprocess.CompletedProcess[str]:
    """`dcrload ARGS` in this process, output captured, tables 120 columns wide: for runs
    whose start-up would be most of their cost (bad input, small sweeps). Only for commands
    that start no process pool (`--jobs 1`): forking the test process is not what a user's
    command does."""
    import contextlib
    import io

    from dcrload.cli import main

    out, err = io.StringIO(), io.StringIO()
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "120"
    # main() installs its own SIGTERM/SIGHUP handlers: the test process gets its own back
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
