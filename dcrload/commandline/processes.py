"""Child processes (the mock, Locust) on loopback: a free port, and reaping them for sure."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

STOP_GRACE = 10.0
"""Seconds a process gets to stop after SIGTERM before it is killed."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reap(process: subprocess.Popen[Any] | None, grace: float = STOP_GRACE) -> int | None:
    """Terminate (SIGTERM), wait, kill if needed; return the exit status.

    A process started by dcrload, its tests or its benchmarks never outlives them.
    """
    if process is None:
        return None
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    return process.returncode
