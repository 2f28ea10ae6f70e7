"""`dcrload statement`: write a signing key pair and software statements for the mock."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from loadtests.statements import ALGORITHMS, DEFAULT_ISSUER, DEFAULT_SOFTWARE_ID, write_statements

NAME = "statement"
HELP = "Write test signing keys and software statements (JWTs) for the mock service."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for keys.json, the PEM files and <software_id>.jwt "
        "(default: results/statements-<UTC timestamp>)",
    )
    parser.add_argument(
        "--software-id",
        action="append",
        default=[],
        metavar="ID",
        help=f"a software id to sign a statement for (repeatable; default {DEFAULT_SOFTWARE_ID})",
    )
    parser.add_argument("--alg", choices=ALGORITHMS, default="ES256", help="signing algorithm")
    parser.add_argument("--issuer", default=DEFAULT_ISSUER, help="the statements' iss claim")
    parser.add_argument("--software-version", default="1.0.0", help="software_version claim")


def run(args: argparse.Namespace) -> int:
    out = args.out or Path("results") / f"statements-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    key, written = write_statements(
        out, args.software_id, args.alg, args.issuer, args.software_version
    )
    print(f"dcrload statement: key {key.kid} ({key.alg}, issuer {key.issuer}) in {out}")
    for software_id, path in written.items():
        print(f"dcrload statement: {software_id} -> {path}")
    return 0
