"""`dcrload mock`: serve the mock DCR service on a loopback port.

Prints, one per line and flushed: where the statements are, the database, the admin key,
then ``dcrload mock listening on http://HOST:PORT`` once it accepts connections (port 0
picks a free port). Stops cleanly on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dcrload.commandline.addresses import is_loopback_host
from dcrload.core.errors import UsageError
from dcrload.core.wire import PROFILES, parse_paths
from loadtests.statements import DEFAULT_SOFTWARE_ID, load_keys, write_statements

NAME = "mock"
HELP = "Serve the mock DCR service (adobe-pass or rfc7591 profile) on 127.0.0.1."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks one")
    parser.add_argument("--keys", type=Path, help="keys directory written by dcrload statement")
    parser.add_argument(
        "--db",
        help="SQLite file for clients (default: in the run folder); :memory: for a throwaway run",
    )
    parser.add_argument("--profile", choices=PROFILES, help="wire profile (default adobe-pass)")
    parser.add_argument("--paths", help="register=/r,token=/t,api_prefix=/api/v2")
    parser.add_argument("--scenario", type=Path, help="take TTL, throttle, profile, paths from it")
    parser.add_argument("--admin-key", help="admin API key (default: a random one, printed)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address"
    )
    parser.add_argument(
        "--token-alg",
        choices=("ES256", "EdDSA", "RS256"),
        default="ES256",
        help="access-token signing algorithm (RS256 like the real service)",
    )
    parser.add_argument("--ttl", type=float, help="access-token lifetime in seconds")
    parser.add_argument("--no-throttle", action="store_true", help="disable the throttle")
    parser.add_argument(
        "--quirk",
        action="append",
        default=[],
        help="a deliberate deviation (for testing probes): register-200, "
        "no-expires-in, exp-mismatch, accept-expired",
    )
    parser.add_argument("--seed", type=int, help="seed of the TTL jitter and fault draws")
    parser.add_argument("--out", type=Path, help="run folder (default results/mock-<UTC time>)")


def build(args: argparse.Namespace) -> tuple[Any, Any, str, Path]:
    """(settings, trusted keys, db path, statements dir) from the arguments."""
    from loadtests.mockserver.settings import MockSettings, settings_from_scenario

    overrides: dict[str, Any] = {"token_alg": args.token_alg, "seed": args.seed}
    if args.profile:
        overrides["profile"] = args.profile
    if args.ttl is not None:
        if args.ttl < 1:
            raise UsageError("--ttl must be at least 1 second")
        overrides["ttl"] = args.ttl
    if args.quirk:
        overrides["quirks"] = frozenset(args.quirk)
    software_ids = [DEFAULT_SOFTWARE_ID]
    try:
        if args.scenario is not None:
            from dcrload.model.scenario import load_scenario

            scenario = load_scenario(args.scenario)
            if args.profile and args.profile != scenario.loadtest.profile:
                overrides["paths"] = None  # the scenario's paths are for its own profile
            settings = settings_from_scenario(scenario, **overrides)
            software_ids = scenario.software_ids() or software_ids
        else:
            settings = MockSettings(**overrides)
        if args.paths:
            settings.paths = parse_paths(args.paths, settings.profile)
        if args.no_throttle:
            settings.throttle.enabled = False
    except ValueError as error:
        raise UsageError(str(error)) from None

    run_dir = args.out or Path("results") / f"mock-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    if args.keys is not None:
        if not args.keys.is_dir():
            raise UsageError(f"--keys {args.keys}: no such directory")
        keys_dir = args.keys
    else:
        keys_dir = run_dir / "keys"
        write_statements(keys_dir, software_ids)
    keys = load_keys(keys_dir).keys
    db = args.db
    if db is None:
        run_dir.mkdir(parents=True, exist_ok=True)
        db = str(run_dir / "mock.sqlite3")
    return settings, keys, db, keys_dir


def run(args: argparse.Namespace) -> int:
    if not is_loopback_host(args.host) and not args.allow_remote:
        raise UsageError(f"--host {args.host} is not a loopback address; add --allow-remote")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number")
    settings, keys, db, keys_dir = build(args)

    from loadtests.mockserver.app import create_app
    from loadtests.mockserver.serve import bind, serve
    from loadtests.mockserver.store import Store

    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        raise UsageError(f"cannot bind {args.host}:{args.port}: {error.strerror}") from None
    admin_key = args.admin_key or os.environ.get("DCRLOAD_ADMIN_KEY") or secrets.token_urlsafe(24)
    try:
        store = Store(db)
    except Exception as error:  # sqlite3 errors: a bad path, a file that is not a database
        sock.close()
        raise UsageError(f"--db {db}: {error}") from None
    app = create_app(settings, keys, store, admin_key)
    statements = ", ".join(sorted(p.name for p in keys_dir.glob("*.jwt")))
    print(
        f"dcrload mock: profile {settings.profile}, token TTL {settings.ttl:g} s, "
        f"tokens signed {settings.token_alg}",
        flush=True,
    )
    print(f"dcrload mock: statements in {keys_dir} ({statements})", flush=True)
    print(f"dcrload mock: database {db}", flush=True)
    print(f"dcrload mock: admin key {admin_key}", flush=True)
    try:
        serve(app, sock)
    finally:
        store.close()
    return 0
