"""`dcrload mock`: serve the mock DCR service on a loopback port.

Prints, one per line and flushed: where the statements are, the database, where the admin
key came from (never the key itself: it is read from ``--admin-key-file`` or
``$DCRLOAD_ADMIN_KEY``, or made and written to a 0600 file whose path is printed), then
``dcrload mock listening on http://HOST:PORT`` once it accepts connections (port 0 picks a
free port). Stops cleanly on Ctrl-C or SIGTERM. The run folder it makes is mode 0700 and
its database 0600.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dcrload.commandline.addresses import is_loopback_host
from dcrload.core.errors import UsageError
from dcrload.core.wire import PROFILES, parse_paths
from loadtests.statements import DEFAULT_SOFTWARE_ID, load_keys, write_statements

ADMIN_KEY_ENV = "DCRLOAD_ADMIN_KEY"
PRIVATE_PREFIX = "dcrload-mock-"  # + pid: the shared store of `--workers N --db :memory:`
ADMIN_KEY_FILE = "admin-key"
_KEY_CHARS = re.compile(r"[!-~]{1,512}")

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
    parser.add_argument(
        "--admin-key-file",
        type=Path,
        help=f"file holding the admin API key (else ${ADMIN_KEY_ENV}; else a random key, "
        "written to a 0600 file in the run folder)",
    )
    parser.add_argument(
        "--admin-key",
        help=f"admin API key (deprecated: visible in ps; use ${ADMIN_KEY_ENV} or --admin-key-file)",
    )
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
    parser.add_argument(
        "--header-timeout",
        type=float,
        help="seconds a client may take to send a request head (default 10)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        help="seconds a client may take to send a request body (default 10)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        help="requests of one route at work at once before others queue (default 64)",
    )
    parser.add_argument(
        "--queue-deadline",
        type=float,
        help="seconds a request may queue before it is shed with Retry-After (default 1)",
    )
    parser.add_argument(
        "--shed-status",
        type=int,
        choices=(429, 503),
        help="status of a request shed under overload (default 503)",
    )
    parser.add_argument(
        "--token-memo",
        type=int,
        help="access tokens remembered to skip verifying them again (default 16384)",
    )
    parser.add_argument(
        "--issuer",
        help="the issuer of access tokens (default: the base URL in the rfc7591 profile, "
        "dcrload-mock in adobe-pass)",
    )
    parser.add_argument(
        "--open-registration",
        action="store_true",
        help="rfc7591: let a client register without a software statement",
    )
    parser.add_argument(
        "--http",
        choices=("httptools", "h11"),
        help="HTTP/1.1 parser: httptools on uvloop (default, about half the CPU per "
        "request) or h11 on asyncio",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing one store, throttle and faults (default 1)",
    )
    parser.add_argument("--seed", type=int, help="seed of the TTL jitter and fault draws")
    parser.add_argument("--out", type=Path, help="run folder (default results/mock-<UTC time>)")


def _run_dir(args: argparse.Namespace) -> Path:
    if args.out is None:
        args.out = Path("results") / f"mock-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    return Path(args.out)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to a new file that is mode 0600 from its first byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text + "\n")


def admin_key(args: argparse.Namespace) -> tuple[str, str]:
    """(the admin key, where it came from) — the key itself is never printed.

    In order: ``--admin-key-file``, ``--admin-key`` (warned about: any user sees a command
    line in ``ps``), ``$DCRLOAD_ADMIN_KEY``, else a random key written to a 0600 file in the
    run folder, whose path is printed.
    """
    if args.admin_key_file is not None:
        try:
            key = args.admin_key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(
                f"--admin-key-file {args.admin_key_file}: cannot read it ({error})"
            ) from None
        source = f"from {args.admin_key_file}"
    elif args.admin_key:
        print(
            f"dcrload mock: warning: --admin-key is visible to every user in ps; "
            f"use ${ADMIN_KEY_ENV} or --admin-key-file",
            file=sys.stderr,
            flush=True,
        )
        key, source = args.admin_key, "from --admin-key"
    elif os.environ.get(ADMIN_KEY_ENV):
        key, source = os.environ[ADMIN_KEY_ENV].strip(), f"from ${ADMIN_KEY_ENV}"
    else:
        key = secrets.token_urlsafe(24)
        run_dir = _run_dir(args)
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = run_dir / ADMIN_KEY_FILE
        _write_private(path, key)
        return key, f"in {path} (mode 0600)"
    if not _KEY_CHARS.fullmatch(key):
        raise UsageError(f"admin key {source}: must be 1-512 printable ASCII characters, no spaces")
    return key, source


def build(args: argparse.Namespace) -> tuple[Any, Any, str, Path]:
    """(settings, trusted keys, db path, statements dir) from the arguments."""
    from loadtests.mockserver.settings import MockSettings, settings_from_scenario

    overrides: dict[str, Any] = {"token_alg": args.token_alg, "seed": args.seed}
    if args.profile:
        overrides["profile"] = args.profile
    if args.ttl is not None:
        if not 1 <= args.ttl <= 366 * 24 * 3600:
            raise UsageError("--ttl must be between 1 second and a year")
        overrides["ttl"] = args.ttl
    if args.quirk:
        overrides["quirks"] = frozenset(args.quirk)
    if args.open_registration:
        overrides["open_registration"] = True
    if args.issuer:
        overrides["issuer"] = args.issuer
    for name in (
        "header_timeout",
        "body_timeout",
        "max_concurrent",
        "queue_deadline",
        "shed_status",
        "token_memo",
        "http",
    ):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
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

    run_dir = _run_dir(args)
    if args.keys is None or args.db is None:
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
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
        db = str(run_dir / "mock.sqlite3")
    return settings, keys, db, keys_dir


def run(args: argparse.Namespace) -> int:
    if not is_loopback_host(args.host) and not args.allow_remote:
        raise UsageError(f"--host {args.host} is not a loopback address; add --allow-remote")
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a port number")
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers {args.workers} must be between 1 and 64")
    settings, keys, db, keys_dir = build(args)
    private_dir = None
    if args.workers > 1 and db == ":memory:":
        # workers share the store through a file: a private one, removed at the end (and,
        # should this process be killed, by the next mock that finds it)
        remove_stale_private_dirs(Path(tempfile.gettempdir()))
        private_dir = tempfile.mkdtemp(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-")
        db = str(Path(private_dir) / "mock.sqlite3")
    try:
        return _run(args, settings, keys, db, keys_dir)
    finally:
        if private_dir is not None:
            shutil.rmtree(private_dir, ignore_errors=True)


def remove_stale_private_dirs(base: Path) -> list[Path]:
    """Remove the private store folders of `--workers` mocks whose process is gone."""
    removed = []
    for folder in base.glob(f"{PRIVATE_PREFIX}*-*"):
        pid = folder.name.removeprefix(PRIVATE_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or not folder.is_dir() or folder.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except PermissionError:
            pass  # alive, someone else's
    return removed


def _run(args: argparse.Namespace, settings: Any, keys: Any, db: str, keys_dir: Path) -> int:
    from loadtests.mockserver.app import create_app
    from loadtests.mockserver.serve import base_url, bind, serve
    from loadtests.mockserver.store import Store

    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        raise UsageError(f"cannot bind {args.host}:{args.port}: {error.strerror}") from None
    try:
        key, key_source = admin_key(args)
    except UsageError:
        sock.close()
        raise
    try:
        store = Store(db)
    except Exception as error:  # sqlite3 errors: a bad path, a file that is not a database
        sock.close()
        raise UsageError(f"--db {db}: {error}") from None
    if settings.profile == "rfc7591" and not args.issuer:
        settings.issuer = base_url(sock)  # RFC 8414 and RFC 9068: the issuer is a URL
    if args.workers == 1:
        app = create_app(settings, keys, store, key)
    else:
        from loadtests.mockserver.tokens import load_or_make_key

        load_or_make_key(store, settings.token_alg)  # one key, made before the workers
        store.close()
    statements = ", ".join(sorted(p.name for p in keys_dir.glob("*.jwt")))
    print(
        f"dcrload mock: profile {settings.profile}, token TTL {settings.ttl:g} s, "
        f"tokens signed {settings.token_alg}",
        flush=True,
    )
    print(f"dcrload mock: statements in {keys_dir} ({statements})", flush=True)
    print(f"dcrload mock: database {db}", flush=True)
    print(f"dcrload mock: admin key {key_source}", flush=True)
    if args.workers > 1:
        from loadtests.mockserver.workers import run_workers

        print(f"dcrload mock: {args.workers} workers sharing {db}", flush=True)
        return run_workers(
            args.workers, sock, lambda: create_app(settings, keys, Store(db, shared=True), key)
        )
    try:
        serve(app, sock)
    finally:
        store.close()
    return 0
