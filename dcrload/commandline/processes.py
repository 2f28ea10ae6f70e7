"""Child processes (the mock, Locust, sweep workers): a free port, and no orphan, ever.

Every child a command starts must die with it, whatever ends the command — SIGKILL
included, when no `finally` runs. Two mechanisms, both set up in the child before it runs
anything of its own:

- on Linux, `PR_SET_PDEATHSIG` (`prctl(2)`): the kernel sends the child SIGKILL the moment
  its parent thread dies (children are started from the main thread, so that is the
  command itself); the setting survives `exec`, so `python -m locust` needs no wrapper;
- its own session and process group (`start_new_session`), so Ctrl-C at a terminal reaches
  the command only (which stops its children in order) and `reap` stops a child together
  with anything it started.

A child also exits at once if its parent is already gone by the time it gets there.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from dcrload.results.files import pid_alive as pid_alive  # re-exported for the commands

STOP_GRACE = 10.0
"""Seconds a process gets to stop after SIGTERM before it is killed."""

PR_SET_PDEATHSIG = 1
"""`prctl(2)` option: the signal a process gets when its parent dies (linux/prctl.h)."""

ORPHAN_EXIT = 70
"""Exit status of a child that found its parent gone before it started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's `prctl`, looked up once in the parent (a forked child must not `dlopen`)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:  # pragma: no cover - a Linux without a loadable libc
        return None
    function = libc.prctl
    function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def die_with_parent(parent: int | None, sig: int = signal.SIGKILL) -> None:
    """In a child: be sent `sig` when the parent dies; exit now if `parent` is gone already.

    `parent` is the pid the child expects as its parent (None: whatever it has now, for
    children of a fork server). Called from `preexec_fn` or a pool initializer.
    """
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0)
    now = os.getppid()
    if (parent is not None and now != parent) or now == 1:
        os._exit(ORPHAN_EXIT)


def pool_worker_start(parent: int | None) -> None:
    """A process pool worker's initializer: Ctrl-C is the parent's to handle (it stops the
    workers itself), every other signal the command handled in Python acts as it would by
    default, and the worker dies with the parent whatever kills it.

    A forked worker inherits the command's own handlers: `dcrload.cli`'s for SIGTERM and
    SIGHUP raises KeyboardInterrupt, so the parent's clean-up, which terminates its
    workers, would print a worker's traceback on stderr.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for number in signal.valid_signals():
        if number != signal.SIGINT and callable(signal.getsignal(number)):
            signal.signal(number, signal.SIG_DFL)
    die_with_parent(parent)


def child_options() -> dict[str, Any]:
    """`subprocess.Popen` keyword arguments for a child that cannot outlive this process."""
    _prctl()  # resolve before forking
    return {
        "start_new_session": True,
        "preexec_fn": functools.partial(die_with_parent, os.getpid()),
    }


def reap(process: subprocess.Popen[Any] | None, grace: float = STOP_GRACE) -> int | None:
    """Terminate (SIGTERM), wait, kill if needed; return the exit status.

    A child in its own process group (`child_options`) is signalled as a group, so what
    it started goes too. A process started by dcrload, its tests or its benchmarks never
    outlives them.
    """
    if process is None:
        return None
    group = _own_group(process)
    if process.poll() is None:
        _signal(process, group, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal(process, group, signal.SIGKILL)
            process.wait(5)
    if group is not None:  # leftovers of the group (the leader is gone)
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    return process.returncode


def _own_group(process: subprocess.Popen[Any]) -> int | None:
    """The child's process group if it leads one of its own (never ours)."""
    try:
        group = os.getpgid(process.pid)
    except OSError:
        return None
    return group if group == process.pid and group != os.getpgrp() else None


def _signal(process: subprocess.Popen[Any], group: int | None, sig: int) -> None:
    try:
        if group is not None:
            os.killpg(group, sig)
        else:
            process.send_signal(sig)
    except OSError:
        pass
