"""The locustfile's own command-line flags and the run settings read from them.

Locust users pass the scenario and its options on Locust's command line (they are added
through ``events.init_command_line_parser``, so they also appear in ``locust --help`` and
the web UI, and Locust sends them from the master to its workers):

    locust -f loadtests/locustfile.py --scenario scenarios/default.toml --host URL

`RunSettings.from_options` validates them once per process. No Locust import here.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcrload.commandline.addresses import is_loopback_url
from dcrload.core.wire import DEFAULT_PATHS, Paths, WireProfile, split_api_prefix
from dcrload.model.loadshape import loadtest_scenario, resolve_run, warmup_seconds
from dcrload.model.scenario import DEFAULT_SCENARIO, Scenario

ADMIN_KEY_ENV = "DCRLOAD_ADMIN_KEY"
"""Where the mock's admin key comes from when ``--dcr-admin-key`` is not given."""


def add_arguments(parser: Any) -> None:
    """Add the flags to Locust's parser (an argparse-compatible parser)."""
    group = parser.add_argument_group("dcrload", "Replay a dcrload scenario's fleet")
    group.add_argument(
        "--scenario",
        default=str(DEFAULT_SCENARIO),
        help="scenario file (default scenarios/default.toml)",
    )
    group.add_argument(
        "--dcr-set",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a scenario field, e.g. fleet.instances=50 (repeatable)",
    )
    group.add_argument(
        "--dcr-duration",
        default="",
        metavar="D",
        help="real duration of the replay, e.g. 30s (default: --run-time, else the "
        "scenario's duration / time_scale)",
    )
    group.add_argument(
        "--time-scale",
        type=float,
        default=0.0,
        help="simulated seconds per real second (default: loadtest.time_scale; 1 for a URL "
        "that is not loopback)",
    )
    group.add_argument(
        "--dcr-statements",
        default="",
        metavar="DIR",
        help="directory of <software_id>.jwt software statements",
    )
    group.add_argument(
        "--software-statement",
        default="",
        metavar="FILE",
        help="software statement (JWT) for every software id without its own file",
    )
    group.add_argument(
        "--dcr-admin-key",
        default="",
        help="the mock's admin key: scale its throttle, inject the scenario's faults "
        f"(default: ${ADMIN_KEY_ENV}, which keeps it off the command line)",
    )
    group.add_argument(
        "--dcr-forward-for",
        choices=("auto", "on", "off"),
        default="auto",
        help="send each device's own X-Forwarded-For (auto: on for a loopback host)",
    )
    group.add_argument("--dcr-out", default="", metavar="DIR", help="write measured.json here")
    group.add_argument("--dcr-seed", type=int, default=-1, help="override the scenario's seed")
    group.add_argument(
        "--dcr-workers",
        type=int,
        default=0,
        help="worker processes sharing the fleet (set by the master; 0: unknown)",
    )
    group.add_argument(
        "--dcr-mock-latency-ms",
        type=float,
        default=0.0,
        help="deliberately slow the mock by this many ms per request (admin API)",
    )
    group.add_argument(
        "--dcr-mock-throttle-rate",
        type=float,
        default=0.0,
        help="deliberately throttle the mock to this many requests/s per device (admin API)",
    )


def load_statements(directory: str, single: str, ids: list[str]) -> dict[str, str]:
    """{software_id: JWT} from DIR/<id>.jwt, else from the single file; missing ids left out."""
    found: dict[str, str] = {}
    fallback = Path(single).read_text().strip() if single else ""
    for software_id in ids:
        path = Path(directory) / f"{software_id}.jwt" if directory else None
        if path is not None and path.is_file():
            found[software_id] = path.read_text().strip()
        elif fallback:
            found[software_id] = fallback
    return found


INITIAL_ACCESS_TOKEN_ENV = "DCRLOAD_INITIAL_ACCESS_TOKEN"
"""Where the initial access token comes from when the scenario does not give one."""


def explicit_paths(scenario: Scenario) -> set[str]:
    """The endpoint settings the user gave (scenario or `--set`), which discovery keeps:
    ``register``, ``token`` and ``token_auth``."""
    given = scenario.loadtest.paths.model_fields_set
    names = {"register"} if "register_path" in given else set()
    if "token" in given:
        names.add("token")
    if scenario.loadtest.registration.token_endpoint_auth_method is not None:
        names.add("token_auth")
    return names


def wire_profile(scenario: Scenario) -> WireProfile:
    """The scenario's wire profile: paths not given take the profile's defaults."""
    loadtest = scenario.loadtest
    mount, provider = split_api_prefix(loadtest.paths.api_prefix)
    defaults = DEFAULT_PATHS[loadtest.profile]
    given = explicit_paths(scenario)
    paths = Paths(
        loadtest.paths.register_path if "register" in given else defaults.register,
        loadtest.paths.token if "token" in given else defaults.token,
        mount,
    )
    registration = loadtest.registration
    return WireProfile(
        name=loadtest.profile,
        paths=paths,
        service_provider=loadtest.service_provider or provider or "dcrload",
        token_auth=registration.token_endpoint_auth_method or "",
        metadata=dict(registration.metadata),
        initial_access_token=registration.initial_access_token
        or os.environ.get(INITIAL_ACCESS_TOKEN_ENV)
        or None,
        scope=registration.scope,
        api=loadtest.api,
        device_headers=loadtest.device_headers,
    )


@dataclass
class RunSettings:
    """Everything one process needs to replay the scenario (validated)."""

    scenario: Scenario
    """The scaled scenario: instances capped, duration = run × time_scale."""
    run_seconds: float
    time_scale: float
    warmup: float
    host: str
    wire: WireProfile
    statements: dict[str, str]
    forward_for: bool
    admin_key: str
    out: str
    seed: int
    latency_ms: float
    throttle_rate: float

    @classmethod
    def from_options(cls, options: Any, host: str, workers: int = 1) -> RunSettings:
        run_time = getattr(options, "run_time", None)
        scenario, run_seconds = resolve_run(
            options.scenario,
            list(getattr(options, "dcr_set", None) or []),
            time_scale=options.time_scale
            if options.time_scale and options.time_scale > 0
            else None,
            real_target=bool(host) and not is_loopback_url(host),
            duration=options.dcr_duration,
            duration_flag="--dcr-duration",
            default_seconds=float(run_time) if run_time else None,
        )
        scaled = loadtest_scenario(scenario, run_seconds)
        seed = options.dcr_seed if options.dcr_seed >= 0 else scenario.scenario.seed
        forward = options.dcr_forward_for
        forward_for = (
            scenario.loadtest.forward_for
            if scenario.loadtest.forward_for is not None and forward == "auto"
            else (forward == "on" or (forward == "auto" and is_loopback_url(host)))
        )
        ids = scenario.software_ids()
        statements = load_statements(options.dcr_statements, options.software_statement, ids)
        missing = [i for i in ids if i not in statements]
        if missing:
            print(
                f"dcrload: no software statement for {', '.join(missing)}; "
                "registrations with it will be refused",
                file=sys.stderr,
            )
        return cls(
            scenario=scaled,
            run_seconds=run_seconds,
            time_scale=scenario.loadtest.time_scale,
            warmup=warmup_seconds(scaled, workers),
            host=host,
            wire=wire_profile(scenario),
            statements=statements,
            forward_for=forward_for,
            admin_key=options.dcr_admin_key or os.environ.get(ADMIN_KEY_ENV, ""),
            out=options.dcr_out,
            seed=seed,
            latency_ms=options.dcr_mock_latency_ms,
            throttle_rate=options.dcr_mock_throttle_rate,
        )
