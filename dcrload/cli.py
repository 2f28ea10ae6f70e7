"""The `dcrload` command line: one sub-command per module, each beside the driver it runs."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from dcrload.core.errors import UsageError

if TYPE_CHECKING:  # the graph the import contracts check; at run time, only what is run
    from loadtests.commands import loadtest, mock, probe, statement  # noqa: F401
    from sim.commands import capacity, compare, simulate  # noqa: F401

COMMANDS = {
    "simulate": "sim.commands.simulate",
    "compare": "sim.commands.compare",
    "capacity": "sim.commands.capacity",
    "loadtest": "loadtests.commands.loadtest",
    "mock": "loadtests.commands.mock",
    "statement": "loadtests.commands.statement",
    "probe": "loadtests.commands.probe",
}
"""Sub-command modules, each living beside the driver it runs, in the order `--help` lists.
Only the command being run is imported: `dcrload mock` need not load the simulator and its
plotting, nor `dcrload simulate` the HTTP and JWT stack (a third of a second each start)."""

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 (argparse prints usage too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _chosen(argv: Sequence[str]) -> list[str]:
    """The command named on the line, when it is one (else every command: for `--help`, or
    for the error that names the choices)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return [first] if first in COMMANDS else list(COMMANDS)


def build_parser(names: Sequence[str] = tuple(COMMANDS)) -> argparse.ArgumentParser:
    """The parser with the sub-commands `names` (all of them by default)."""
    modules: list[ModuleType] = [importlib.import_module(COMMANDS[name]) for name in names]
    parser = _Parser(
        prog="dcrload",
        description="Plan and test the load an app fleet puts on an OAuth 2.0 DCR service.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in modules:
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
"""Signals that end a run like Ctrl-C: `kill`, a closed terminal or SSH session."""


def _stop(signum: int, frame: object) -> None:
    """End the run like Ctrl-C, so staging folders and child processes are cleaned up.

    Only the first signal interrupts: a second one during the clean-up is ignored, so the
    clean-up finishes (children die with the command anyway, should it be SIGKILLed).
    """
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status (2 for bad input, 130 when interrupted).

    Bad input (`UsageError`, or an `OSError` on a path the user named) is one line on
    stderr, never a traceback.
    """
    for number in STOP_SIGNALS:
        signal.signal(number, _stop)
    try:
        given = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(_chosen(given)).parse_args(given)
        return int(args._run(args))
    except UsageError as error:
        print(f"dcrload: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a path the user gave cannot be read or written
        where = f"{error.filename}: " if error.filename else ""
        print(f"dcrload: error: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("dcrload: interrupted", file=sys.stderr)
        return 130
