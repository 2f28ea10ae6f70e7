"""The `dcrload` command line: one sub-command per module, each beside the driver it runs."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from dcrload.core.errors import UsageError
from loadtests.commands import loadtest, mock, probe, statement
from sim.commands import capacity, compare, simulate

COMMANDS = (simulate, compare, capacity, loadtest, mock, statement, probe)
"""Sub-command modules, each living beside the driver it runs, in the order `--help` lists."""

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2 (argparse prints usage too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dcrload",
        description="Plan and test the load an app fleet puts on an OAuth 2.0 DCR service.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for module in COMMANDS:
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
        args = build_parser().parse_args(argv)
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
