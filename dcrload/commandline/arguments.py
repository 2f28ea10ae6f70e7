"""Arguments several commands share, spelled and checked one way."""

from __future__ import annotations

import argparse
from pathlib import Path

from dcrload.core.errors import UsageError
from dcrload.model.scenario import DEFAULT_SCENARIO


def add_scenario(parser: argparse.ArgumentParser, *, optional: bool = True) -> None:
    """SCENARIO, defaulting to scenarios/default.toml unless the command needs one named."""
    if optional:
        parser.add_argument(
            "scenario",
            nargs="?",
            default=str(DEFAULT_SCENARIO),
            metavar="SCENARIO",
            help=f"scenario file (default {DEFAULT_SCENARIO})",
        )
    else:
        parser.add_argument("scenario", metavar="SCENARIO", help="scenario file")


def add_out(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help=f"results folder (default {default})"
    )


def add_seed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, metavar="N", help="override the scenario's seed")


def add_overrides(parser: argparse.ArgumentParser, example: str = "fleet.instances=1000") -> None:
    """--set PATH=VALUE, repeatable, collected in `args.overrides`."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        dest="overrides",
        help=f"override a scenario field, e.g. {example}",
    )


def overrides_with_seed(args: argparse.Namespace) -> list[str]:
    """The --set overrides, plus scenario.seed when --seed was given (checked here)."""
    overrides = list(args.overrides)
    if args.seed is not None:
        if args.seed < 0:
            raise UsageError(f"--seed {args.seed}: expected a non-negative integer")
        overrides.append(f"scenario.seed={args.seed}")
    return overrides
