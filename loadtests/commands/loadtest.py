"""`dcrload loadtest SCENARIO --target mock|URL [--duration D] [--workers N] [--out DIR]`.

Replays the scenario's fleet with Locust (`loadtests/locustfile.py`) and checks the load it
measured against the simulation's prediction:

1. the prediction: `dcrload simulate` of the scaled scenario
   (`dcrload.model.loadshape.loadtest_scenario`: instances capped at
   `loadtest.max_instances`, duration × `time_scale`) — the same agents with the same
   per-instance streams the replay plays; its request rates are printed before the run;
2. with ``--target mock``: signing keys and statements, then the mock on a free loopback
   port (`dcrload mock`), waited for until it answers;
3. Locust, headless, as subprocesses (``--workers N``: one master and N workers, Locust's
   own master/worker mode), bounded by ``--run-time``; everything is stopped and reaped
   whatever happens;
4. the results: Locust's CSV and HTML, ``summary.json``, ``timeseries.csv`` and
   ``report.png`` in the simulation's formats, ``comparison.json`` and ``comparison.png``.

Before Locust starts, a preflight (`loadtests.preflight`) runs one instance's lifecycle
against the target: a dead port stops the run at once (exit 1), a refused step names the
endpoint, the status and the server's error (exit 5), the server's token lifetime is read
and predicted with, and the measured latency sizes the Locust users.

Exit status: 0 when the thresholds hold and the prediction check passes; 1 when the target
cannot be reached or the load test itself failed; 2 for bad input; 3 (`EXIT_THRESHOLDS`)
when a threshold of ``[loadtest.thresholds]`` is breached; 6 (`EXIT_BEHIND`) when the load
generator fell behind (the measurement is not the scenario's); 5 (`EXIT_OUTCOMES`) when the
service answered otherwise than predicted (a class of outcomes — 2xx, 401, other 4xx, 429,
5xx, no answer — off the prediction, or failed warm-ups); 4 (`EXIT_PREDICTION`) when only
an endpoint's total is outside the prediction's tolerance. The first that applies wins.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from dcrload.analysis.prediction import EXIT_BEHIND, EXIT_OUTCOMES, EXIT_PREDICTION
from dcrload.analysis.thresholds import EXIT_THRESHOLDS
from dcrload.commandline.addresses import is_loopback_url
from dcrload.commandline.arguments import (
    add_out,
    add_overrides,
    add_scenario,
    add_seed,
    overrides_with_seed,
)
from dcrload.commandline.processes import STOP_GRACE, child_options, free_port, reap
from dcrload.core.durations import format_duration
from dcrload.core.errors import UsageError
from dcrload.model.scenario import Scenario
from dcrload.results.files import ENDPOINTS, ResultsDir, default_out, write_json
from loadtests.options import ADMIN_KEY_ENV

NAME = "loadtest"
HELP = "Replay a scenario's fleet with Locust against the mock or a URL; check the prediction."

EXIT_FAILED = 1
MAX_WORKERS = 64
"""Most Locust worker processes one command starts on this machine."""
MOCK_START_TIMEOUT = 30.0

LISTENING = "dcrload mock listening on "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario(parser)
    parser.add_argument(
        "--target",
        required=True,
        metavar="mock|URL",
        help="'mock' starts the mock on a free loopback port; or the base URL of a service",
    )
    parser.add_argument(
        "--duration",
        metavar="D",
        help="real duration of the replay, e.g. 30s (default: scenario duration / time_scale)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="Locust worker processes (N > 1: one master and N workers on this machine)",
    )
    add_out(parser, "results/<scenario>-loadtest-<UTC timestamp>")
    parser.add_argument(
        "--software-statement",
        type=Path,
        metavar="FILE",
        help="software statement (JWT) to register with (required with a URL)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        metavar="X",
        help="simulated seconds per real second (default: the scenario's; 1 with a URL)",
    )
    add_seed(parser)
    add_overrides(parser, "fleet.instances=50")
    parser.add_argument(
        "--mock-latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="deliberately slow the mock by MS per request (to see the check fail)",
    )
    parser.add_argument(
        "--mock-throttle-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="deliberately throttle the mock to R requests/s per device, burst 1",
    )
    parser.add_argument(
        "--ttl-mismatch",
        choices=("adapt", "stop"),
        default="adapt",
        help="when the server's tokens live another time than the scenario's: predict with "
        "the server's lifetime (adapt, default) or stop before the run (stop)",
    )


# --------------------------------------------------------------------------- processes


class MockProcess:
    """`dcrload mock` on a free loopback port; `url` once it answers /healthz.

    The mock dies with this process (`child_options`). The admin key goes to it in its
    environment (`ADMIN_KEY_ENV`), never on its command line, where every user of the
    machine could read it in ``ps``: `admin_key`, or an ``--admin-key`` found in `args`, is
    moved there; it is masked in the log too.
    """

    def __init__(self, args: list[str], log_path: Path, admin_key: str = "") -> None:
        args, admin_key = self._take_admin_key(args, admin_key)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if admin_key:
            env[ADMIN_KEY_ENV] = admin_key
        self.admin_key = admin_key
        self.log_path = log_path
        self.lines: list[str] = []
        self.process: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-m", "dcrload", "mock", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            **child_options(),
        )
        self._found = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()

    @staticmethod
    def _take_admin_key(args: list[str], admin_key: str) -> tuple[list[str], str]:
        """(`args` without any ``--admin-key``, the key to pass by environment)."""
        rest: list[str] = []
        items = iter(args)
        for item in items:
            if item == "--admin-key":
                admin_key = admin_key or next(items, "")
            elif item.startswith("--admin-key="):
                admin_key = admin_key or item.partition("=")[2]
            else:
                rest.append(item)
        return rest, admin_key

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        with self.log_path.open("w") as log, self.process.stdout:  # both closed at its end
            for line in self.process.stdout:
                if self.admin_key:
                    line = line.replace(self.admin_key, "<admin key>")
                log.write(line)
                log.flush()
                self.lines.append(line.rstrip("\n"))
                if line.startswith(LISTENING) and not self.url:
                    self.url = line.split()[-1]
                    self._found.set()

    def wait_ready(self, timeout: float = MOCK_START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while not self._found.wait(0.05):
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError("the mock exited:\n" + "\n".join(self.lines[-20:]))
            if time.monotonic() > deadline:
                raise RuntimeError("the mock did not start in time")
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return self.url
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the mock does not answer /healthz")
            time.sleep(0.05)

    def stop(self) -> None:
        reap(self.process)


def locustfile() -> Path:
    import loadtests

    return Path(loadtests.__file__).resolve().parent / "locustfile.py"


def run_locust(
    common: list[str], workers: int, staging: Path, time_limit: float, admin_key: str = ""
) -> tuple[int, list[Path]]:
    """Run Locust headless (one process, or a master and `workers` workers); reap them all.

    Each Locust process dies with this one (`child_options`), and gets `admin_key` through
    the environment (`ADMIN_KEY_ENV`), so it is never on a command line.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if admin_key:
        env[ADMIN_KEY_ENV] = admin_key
    base = [sys.executable, "-m", "locust", "-f", str(locustfile())]
    logs = [staging / "locust.log"]
    processes: list[subprocess.Popen[bytes]] = []
    handles = []
    try:
        master_args = [*base, "--headless", *common]
        if workers > 1:
            port = free_port()
            master_args += [
                "--master",
                "--expect-workers",
                str(workers),
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--dcr-workers",
                str(workers),
            ]
        handle = logs[0].open("wb")
        handles.append(handle)
        master = subprocess.Popen(
            master_args, stdout=handle, stderr=subprocess.STDOUT, env=env, **child_options()
        )
        processes.append(master)
        for index in range(workers if workers > 1 else 0):
            path = staging / f"locust-worker-{index}.log"
            logs.append(path)
            handle = path.open("wb")
            handles.append(handle)
            worker_args = [
                *base,
                "--worker",
                "--master-host",
                "127.0.0.1",
                "--master-port",
                str(port),
            ]
            processes.append(
                subprocess.Popen(
                    worker_args,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env=env,
                    **child_options(),
                )
            )
        try:
            code = master.wait(time_limit)
        except subprocess.TimeoutExpired:
            code = -1
        for worker in processes[1:]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(STOP_GRACE)
        return code, logs
    finally:
        for process in processes:
            reap(process)
        for handle in handles:
            handle.close()


# --------------------------------------------------------------------------- the command


def _is_url(target: str) -> bool:
    return target.startswith(("http://", "https://")) and len(target.split("://", 1)[1]) > 0


def expected_rates(summary: dict[str, Any], run_seconds: float, scale: float) -> str:
    """The prediction's request rates in real requests per second (mean and peak bin)."""
    parts = []
    for endpoint in ENDPOINTS:
        data = summary["endpoints"][endpoint]
        mean = data["requests"] / run_seconds
        peak = data["peak_rps"] * scale
        parts.append(f"{endpoint} {mean:.1f}/s (peak {peak:.1f}/s)")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from dcrload.model.loadshape import (
        resolve_run,
    )

    target = args.target
    mock = target == "mock"
    if not mock and not _is_url(target):
        raise UsageError(f"--target {target!r}: expected 'mock' or an http(s):// URL")
    if not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(f"--workers {args.workers}: expected 1 to {MAX_WORKERS}")
    if args.time_scale is not None and not (0 < args.time_scale < math.inf):
        raise UsageError(f"--time-scale {args.time_scale:g}: expected a positive finite number")
    for flag, value in (
        ("--mock-latency-ms", args.mock_latency_ms),
        ("--mock-throttle-rate", args.mock_throttle_rate),
    ):
        if not 0 <= value < math.inf:
            raise UsageError(f"{flag} {value:g}: expected a finite number, not negative")
    if not mock:
        if args.software_statement is None:
            raise UsageError("--target URL needs --software-statement FILE")
        if not args.software_statement.is_file():
            raise UsageError(f"--software-statement {args.software_statement}: no such file")
    overrides = overrides_with_seed(args)
    scenario_path = Path(args.scenario).resolve()
    scenario, run_seconds = resolve_run(
        args.scenario,
        overrides,
        time_scale=args.time_scale,
        real_target=not mock and not is_loopback_url(target),
        duration=args.duration,
    )
    if not mock:  # RFC 8414: Locust processes get the endpoints as explicit overrides
        from loadtests.discovery import loadtest_overrides

        overrides = [*overrides, *loadtest_overrides(target, scenario)]
    out = args.out or default_out(f"{scenario.name}-loadtest")
    with ResultsDir(out) as staging:
        code = _run_in(args, scenario, scenario_path, overrides, run_seconds, staging, mock)
    print(f"results: {out}")
    return code


def _statement_for(args: argparse.Namespace, scenario: Scenario, keys: Path | None) -> str:
    """The software statement the preflight registers with (the first cohort's)."""
    if keys is not None:
        return (keys / f"{scenario.cohorts[0].software_id}.jwt").read_text().strip()
    return Path(args.software_statement).read_text().strip()


def _preflight(
    args: argparse.Namespace,
    scenario: Scenario,
    scenario_path: Path,
    overrides: list[str],
    host: str,
    keys: Path | None,
) -> tuple[int | None, list[str], float]:
    """One lifecycle pass against the target before the run.

    Returns (an exit status to stop with, or None; overrides to add; seconds per request).
    """
    from dcrload.model.scenario import load_scenario
    from loadtests.options import wire_profile
    from loadtests.preflight import Refused, Unreachable, preflight

    resolved = load_scenario(scenario_path, overrides, budget=False)
    wire = wire_profile(resolved)
    try:
        found = preflight(
            host, wire, _statement_for(args, scenario, keys), scenario.cohorts[0].software_id
        )
    except Unreachable as error:
        print(f"dcrload: error: cannot reach the target: {error}", file=sys.stderr)
        return EXIT_FAILED, [], 0.0
    except Refused as error:
        print(f"dcrload: the target refuses the lifecycle: {error}", file=sys.stderr)
        print(f"service answered otherwise than predicted: {error}")
        return EXIT_OUTCOMES, [], 0.0
    scale = scenario.loadtest.time_scale
    expected = scenario.token.ttl / scale
    added: list[str] = []
    server = found.lifetime
    if math.isfinite(server) and abs(server - expected) > max(1.0, 0.1 * expected):
        note = (
            f"the server's tokens live {format_duration(server)}, the scenario's"
            f" {format_duration(expected)} of real time (token.ttl / time_scale)"
        )
        if args.ttl_mismatch == "stop":
            print(f"dcrload: error: {note}; stopped (--ttl-mismatch stop)", file=sys.stderr)
            return EXIT_FAILED, [], 0.0
        print(f"dcrload: note: {note}; predicting with the server's", file=sys.stderr)
        added.append(f"token.ttl={server * scale!r}")
        expected = server
    if expected > args.run_seconds:
        print(
            f"dcrload: warning: the server's tokens live {format_duration(expected)} of real"
            f" time; they will not expire within a {format_duration(args.run_seconds)} run",
            file=sys.stderr,
        )
    return None, added, found.latency


def _users_for(predicted: Any, scale: float, latency: float, workers: int) -> int:
    """Locust users per worker for the predicted requests in flight at the busiest bin:
    requests/s (real) × seconds per request, doubled for headroom."""
    from dcrload.analysis.prediction import per_endpoint

    counters = predicted.counters
    rows = per_endpoint(counters.items(), counters.bins)
    busiest = max((sum(col) for col in zip(*rows.values(), strict=True)), default=0)
    real_bin = counters.bin_width / scale
    in_flight = busiest / real_bin * max(latency, 0.001)
    return max(1, math.ceil(2.0 * in_flight / workers))


def _run_in(
    args: argparse.Namespace,
    scenario: Scenario,
    scenario_path: Path,
    overrides: list[str],
    run_seconds: float,
    staging: Path,
    mock: bool,
) -> int:
    from dcrload.model.loadshape import (
        loadtest_scenario,
        prediction_scenario,
        warmup_seconds,
    )
    from dcrload.results.summary import summary_of
    from sim.fleet import simulate

    scale = scenario.loadtest.time_scale
    args.run_seconds = run_seconds
    mock_process: MockProcess | None = None
    admin_key = ""
    try:
        if mock:
            from loadtests.options import wire_profile
            from loadtests.statements import write_statements
            from loadtests.timescale import mock_ttl

            keys = staging / "keys"  # public key and statements only: nothing that signs
            write_statements(keys, scenario.software_ids(), keep_private=False)
            admin_key = secrets.token_urlsafe(18)
            wire = wire_profile(scenario)
            paths = wire.paths
            mock_process = MockProcess(
                [
                    "--db",
                    ":memory:",
                    "--keys",
                    str(keys),
                    "--profile",
                    wire.name,
                    "--paths",
                    f"register={paths.register},token={paths.token},api_prefix={paths.api_prefix}",
                    "--ttl",
                    f"{mock_ttl(scenario.token.ttl, scale):g}",
                ],
                staging / "mock.log",
                admin_key,
            )
            try:
                host = mock_process.wait_ready()
            except RuntimeError as error:
                print(f"dcrload: error: {error}", file=sys.stderr)
                return EXIT_FAILED
            statements = ["--dcr-statements", str(keys)]
        else:
            keys = None
            host = args.target.rstrip("/")
            statements = ["--software-statement", str(args.software_statement.resolve())]
        stop, added, latency = _preflight(args, scenario, scenario_path, overrides, host, keys)
        if stop is not None:
            return stop
        overrides = [*overrides, *added]
        if added:  # the server's token lifetime, in simulated seconds
            ttl = float(added[0].split("=", 1)[1])
            token = scenario.token.model_copy(update={"ttl": ttl})
            scenario = scenario.model_copy(update={"token": token})
        scaled = loadtest_scenario(scenario, run_seconds)
        predicted = simulate(prediction_scenario(scaled), seed=scaled.scenario.seed)
        predicted_summary = summary_of(predicted)
        users = _users_for(predicted, scale, latency, args.workers)
        if users > scaled.loadtest.min_users:
            overrides = [*overrides, f"loadtest.min_users={users}"]
        warmup = warmup_seconds(scaled)
        instances = scaled.fleet.instances + predicted.installs
        print(
            f"dcrload loadtest: {scenario.name}, {instances:,} instances"
            f" ({scaled.fleet.instances:,} installed, {predicted.installs:,} installs),"
            f" {format_duration(run_seconds)} at {scale:g}×"
            f" = {format_duration(run_seconds * scale)} simulated, {args.workers} worker(s),"
            f" {max(users, scaled.loadtest.min_users)} user(s) per worker"
            f" ({latency * 1000:.0f} ms per request in the preflight)"
        )
        print("expected: " + expected_rates(predicted_summary, run_seconds, scale), flush=True)
        common = [
            "--host",
            host,
            "--scenario",
            str(scenario_path),
            *[item for o in overrides for item in ("--dcr-set", o)],
            "--dcr-duration",
            f"{run_seconds}",
            "--dcr-out",
            str(staging),
            *statements,
            "--csv",
            str(staging / "locust"),
            "--html",
            str(staging / "locust.html"),
            "--run-time",
            f"{math.ceil(warmup + run_seconds + 30)}s",
            "--exit-code-on-error",
            "0",
            "--only-summary",
        ]
        if args.mock_latency_ms:
            common += ["--dcr-mock-latency-ms", f"{args.mock_latency_ms}"]
        if args.mock_throttle_rate:
            common += ["--dcr-mock-throttle-rate", f"{args.mock_throttle_rate}"]
        common += ["--time-scale", f"{scale}"]  # Locust plays at the scale predicted
        started = time.monotonic()
        limit = warmup + run_seconds + 90
        code, logs = run_locust(common, args.workers, staging, limit, admin_key)
        wall = time.monotonic() - started
    finally:
        if mock_process is not None:
            mock_process.stop()

    measured_path = staging / "measured.json"
    if code not in (0, EXIT_THRESHOLDS) or not measured_path.is_file():
        tail = logs[0].read_text(errors="replace").splitlines()[-15:] if logs[0].exists() else []
        print(f"dcrload: error: the load test failed (Locust exit status {code})", file=sys.stderr)
        for line in tail:
            print(f"  {line}", file=sys.stderr)
        return EXIT_FAILED
    return _write_results(scaled, predicted, json.loads(measured_path.read_text()), staging, wall)


def _first_error(errors: dict[str, str], endpoint: str, outcome_class: str) -> str:
    """The first error answer the run saw of that endpoint and class, as "404 not_found: …"."""
    for key, text in errors.items():
        where, _, status = key.rpartition(" ")
        if where != endpoint:
            continue
        if status.isdigit() and outcome_class in (status, status[0] + "xx"):
            return f"{status} {text}"
        if not status.isdigit() and outcome_class == "no answer":
            return status
    return ""


def _verdict(
    comparison: dict[str, Any],
    run_stats: dict[str, Any],
    breaches: list[Any],
    late_share: float,
    behind: bool,
    loadtest: Any,
) -> tuple[int, str]:
    """(exit status, one-line verdict): thresholds, then a generator that fell behind, then
    outcomes (what the service answered), then counts."""
    errors = run_stats.get("errors", {})
    if breaches:
        return EXIT_THRESHOLDS, f"{len(breaches)} threshold(s) breached"
    if behind:
        return EXIT_BEHIND, (
            f"generator fell behind: {late_share:.0%} of steps ran later than"
            f" {loadtest.tolerance:.0%} of a bin; the measurement is not the scenario's (add"
            " --workers, lower loadtest.instances_per_user or the time scale)"
        )
    failed = int(run_stats.get("warm_failed", 0))
    if failed:
        first = next(iter(errors.items()), ("warm-up", ""))
        return EXIT_OUTCOMES, (
            f"service answered otherwise than predicted: {failed} warm-up failure(s),"
            f" first {first[0]}: {first[1]}"
        )
    if not comparison.get("outcomes_passed", True):
        reason = comparison["outcome_reason"]
        endpoint = reason.split(":", 1)[0]
        cls = reason.split(" answers ", 1)[1].split(" where", 1)[0] if " answers " in reason else ""
        sample = _first_error(errors, endpoint, cls)
        return EXIT_OUTCOMES, (
            f"service answered otherwise than predicted: {reason}"
            + (f" (first: {sample})" if sample else "")
        )
    if not comparison["passed"]:
        return EXIT_PREDICTION, f"prediction check failed (tolerance {loadtest.tolerance:.0%})"
    return 0, f"prediction check passed (tolerance {loadtest.tolerance:.0%})"


def _write_results(
    scaled: Scenario, predicted: Any, document: dict[str, Any], staging: Path, wall: float
) -> int:
    from dcrload.analysis.prediction import compare, summary_lines
    from dcrload.results.html import loadtest_report, write_html
    from dcrload.results.prediction_plot import plot_comparison
    from dcrload.results.summary import summary_of, write_files
    from loadtests.measured import measured_result

    info = scaled.scenario
    measured = measured_result(scaled, document["seed"], document["measured"], wall)
    summary = summary_of(measured)
    summary["loadtest"] = {
        "time_scale": document["time_scale"],
        "run_seconds": document["run_seconds"],
        "warmup_seconds": document["warmup_seconds"],
        "workers": document["measured"].get("workers", 1),
        "instances": document["measured"].get("instances", 0),
        "warm_instances": document["measured"].get("warm", 0),
        "warmup_failures": document["measured"].get("warm_failed", 0),
        "latency_p95_ms": document["latency_p95_ms"],
        "mean_lateness_s": round(
            document["measured"].get("late_total", 0.0)
            / max(1, document["measured"].get("late_steps", 0)),
            3,
        ),
        "worst_lateness_s": round(document["measured"].get("late_worst", 0.0), 3),
        "thresholds": document["threshold_values"],
        "breaches": document["breaches"],
    }
    run_stats = document["measured"]
    steps = max(1, int(run_stats.get("late_steps", 0)))
    late_share = int(run_stats.get("late_over", 0)) / steps
    summary["loadtest"]["late_share"] = round(late_share, 4)
    summary["loadtest"]["errors"] = run_stats.get("errors", {})
    behind = late_share > scaled.loadtest.tolerance
    scale = document["time_scale"]
    write_files(
        measured, staging, summary, f"dcrload loadtest — {info.name} (measured)", time_scale=scale
    )
    loadtest = scaled.loadtest
    from loadtests.options import wire_profile

    checked = ENDPOINTS if wire_profile(scaled).sends_api else ("register", "token")
    comparison = compare(
        predicted.counters.items(),
        measured.counters.items(),
        bins=predicted.counters.bins,
        bin_width=info.bin,
        tolerance=loadtest.tolerance,
        slack=loadtest.slack,
        endpoints_checked=checked,
    )
    comparison["predicted_impact"] = {
        k: v for k, v in summary_of(predicted)["impact"].items() if not isinstance(v, list)
    }
    comparison["measured_impact"] = {
        k: v for k, v in summary["impact"].items() if not isinstance(v, list)
    }
    write_json(staging / "comparison.json", comparison)
    plot_comparison(
        staging / "comparison.png",
        comparison,
        f"dcrload loadtest — {info.name}: predicted vs measured "
        f"(tolerance {loadtest.tolerance:.0%})",
        time_scale=scale,
    )
    print("prediction check (largest relative error per endpoint):")
    for line in summary_lines(comparison):
        print("  " + line)
    breaches = document["breaches"]
    for breach in breaches:
        print(
            f"threshold breached: {breach['name']}: {breach['value']:.4g} > {breach['limit']:.4g}"
        )
    code, verdict = _verdict(comparison, run_stats, breaches, late_share, behind, loadtest)
    page = loadtest_report(
        staging, summary, comparison, scaled, f"dcrload loadtest — {info.name}", verdict, code == 0
    )
    write_html(staging / "report.html", page)
    if code != EXIT_THRESHOLDS:
        print(verdict)
    return code
