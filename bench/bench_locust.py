"""Benchmark: requests/s of the lifecycle-driven Locust users against plain FastHttpUsers.

Covers: issue 5's speed figure (DESIGN.md: the lifecycle-driven users should keep at least
70 % of plain FastHttpUser's rate). In one Locust run (one process, headless), against the
same mock on a loopback port:

- ``DcrUser`` (`loadtests.user`): plays always-on instances of a fleet whose API calls are
  due all the time (``api_interval`` 1 ms, time scale 1), so every step is: pop the due
  instance from the heap, resume its instance process, ask the lifecycle, build the
  request with `dcrload.core.wire`, send it through FastHttpSession with ``catch_response``,
  parse the answer, count it, push the instance back;
- ``PlainUser``: a plain FastHttpUser sending the same API request (same path, headers and
  bearer token, from one registration) in a tight task.

Both get USERS users and share the process, the mock and the machine; the figure is the
ratio of their API requests/s over the run (the short cold start of the fleet excluded).
Loopback only; the run is bounded by ``--run-time`` and every process is reaped.

Run: ``python bench/bench_locust.py [--seconds 20] [--users 2]``; writes
``bench/results/locust.json`` and prints the ratio. Locust imports this same file as its
locustfile (the user classes below); the driver part runs only as a script.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dcrload.commandline.processes import reap

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "locust.json"
SCENARIO = REPO / "scenarios" / "steady-state.toml"
GOAL = 0.7
INSTANCES = 200
OVERRIDES = [
    f"fleet.instances={INSTANCES}",
    "fleet.start=cold",
    "fleet.launch_spread=0",
    'cohorts=[{name = "service", share = 1.0, platform = "server", refresh = "google-auth", '
    'retry = "none"}]',
    "usage.api_interval=0.001",
    "token.ttl=6h",
    "server.throttle.enabled=false",
    "loadtest.time_scale=1",
    f"loadtest.max_instances={INSTANCES}",
]


if __name__ != "__main__":  # imported by Locust as the locustfile
    from locust import FastHttpUser, constant, task

    import loadtests.locustfile  # noqa: F401  (the replay's flags and event hooks)
    from dcrload.core.actions import CallApi, FetchToken, Register
    from dcrload.core.wire import Device, device_info_for
    from loadtests.run import replay_of
    from loadtests.user import DcrUser

    DcrUser.fixed_count = int(os.environ.get("BENCH_USERS", "2"))

    class PlainUser(FastHttpUser):
        """The same API request, with none of the lifecycle around it."""

        fixed_count = int(os.environ.get("BENCH_USERS", "2"))
        wait_time = constant(0)

        def on_start(self) -> None:
            settings = replay_of(self.environment).settings()
            wire = settings.wire
            device_id = "bench-plain-" + secrets.token_hex(4)
            self.device = Device(device_id, device_info_for(device_id))
            statement = next(iter(settings.statements.values()))
            answer = self._send(
                wire.request(Register(statement, "bench"), self.device), "plain:register"
            )
            credentials = answer.json()
            answer = self._send(
                wire.request(
                    FetchToken(credentials["client_id"], credentials["client_secret"]), self.device
                ),
                "plain:token",
            )
            token = answer.json()["access_token"]
            self.api = wire.request(CallApi("configuration", token), self.device)

        def _send(self, request, name):  # type: ignore[no-untyped-def]
            return self.client.request(
                request.method,
                request.path,
                name=name,
                data=request.body or None,
                headers=request.headers,
            )

        @task
        def call(self) -> None:
            api, client = self.api, self.client
            for _ in range(100):  # as many per task as DcrUser works off at most
                client.request(api.method, api.path, name="plain:api", headers=api.headers)


class _StubResponse:
    """What FastHttpSession's catch_response context gives, answering 200 at once."""

    status_code = 200
    headers: dict[str, str] = {}  # noqa: RUF012
    content = b'{"serviceProvider":"dcrload","mvpds":[]}'

    def __enter__(self) -> _StubResponse:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def success(self) -> None:
        pass

    def failure(self, reason: str) -> None:
        pass


class _StubClient:
    def request(self, *args: object, **kwargs: object) -> _StubResponse:
        return _StubResponse()


def step_overhead(seconds: float = 2.0) -> float:
    """Microseconds of client-side work per lifecycle step, the HTTP call stubbed out:
    heap, instance process, lifecycle, `dcrload.core.wire`, answer parsing, counting."""
    from dcrload.model.loadshape import loadtest_scenario
    from dcrload.model.scenario import load_scenario
    from loadtests.driver import LocustDriver
    from loadtests.options import wire_profile
    from loadtests.timescale import DriverClock

    scenario = load_scenario(SCENARIO, OVERRIDES)
    fleet = LocustDriver(
        scenario=loadtest_scenario(scenario, seconds + 60),
        clock=DriverClock(time.time(), 1.0),
        wire=wire_profile(scenario),
        statements={"dcrload-demo": "statement"},
    )
    client = _StubClient()
    for _ in range(2 * INSTANCES):  # the cold start: register and token for everyone
        fleet.step(client)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(1000):
            steps += fleet.step(client)
    return (time.perf_counter() - started) / max(1, steps) * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the run")
    parser.add_argument("--users", type=int, default=2, help="users of each kind")
    parser.add_argument(
        "--overhead-seconds", type=float, default=2.0, help="length of the stubbed-out step timing"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    from loadtests.commands.loadtest import MockProcess
    from loadtests.statements import write_statements

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BENCH_USERS": str(args.users)}
    with tempfile.TemporaryDirectory(prefix="bench-locust-") as tmp:
        work = Path(tmp)
        write_statements(work / "keys", ["dcrload-demo"])
        key = secrets.token_urlsafe(12)
        mock = MockProcess(
            [
                "--db",
                ":memory:",
                "--keys",
                str(work / "keys"),
                f"--admin-key={key}",
                "--no-throttle",
                "--ttl",
                "21600",
                "--paths",
                "api_prefix=/api/v2",
            ],
            work / "mock.log",
        )
        try:
            url = mock.wait_ready()
            command = [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(Path(__file__).resolve()),
                "--headless",
                "--host",
                url,
                "-u",
                str(2 * args.users),
                "-r",
                "100",
                "--run-time",
                f"{args.seconds:g}s",
                "--scenario",
                str(SCENARIO),
                *[item for o in OVERRIDES for item in ("--dcr-set", o)],
                "--dcr-duration",
                f"{args.seconds + 30:g}s",
                "--dcr-statements",
                str(work / "keys"),
                "--csv",
                str(work / "locust"),
                "--only-summary",
                "--exit-code-on-error",
                "0",
                "--loglevel",
                "WARNING",
            ]
            started = time.monotonic()
            locust = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            try:
                output, _ = locust.communicate(timeout=args.seconds + 60)
            finally:
                reap(locust)
            wall = time.monotonic() - started
        finally:
            mock.stop()
        if locust.returncode != 0:
            print(output.decode(errors="replace")[-3000:], file=sys.stderr)
            return 1
        with (work / "locust_stats.csv").open(newline="") as handle:
            rows = {row["Name"]: row for row in csv.DictReader(handle)}

    overhead_us = step_overhead(args.overhead_seconds)
    # a side with no finished request in the run (a tiny run on a loaded machine) measured 0
    lifecycle = float(rows.get("api:configuration", {}).get("Requests/s", 0.0))
    plain = float(rows.get("plain:api", {}).get("Requests/s", 0.0))
    ratio = lifecycle / plain if plain else 0.0
    result = {
        "benchmark": "locust lifecycle users vs plain FastHttpUser, same run, same mock",
        "seconds": args.seconds,
        "wall_seconds": round(wall, 2),
        "users_each": args.users,
        "instances": INSTANCES,
        "lifecycle_api_rps": round(lifecycle, 1),
        "plain_api_rps": round(plain, 1),
        "lifecycle_all_rps": round(
            sum(
                float(rows[n]["Requests/s"])
                for n in ("register", "token", "api:configuration")
                if n in rows
            ),
            1,
        ),
        "ratio": round(ratio, 3),
        "lifecycle_step_overhead_us": round(overhead_us, 1),
        "goal": GOAL,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "system": platform.platform(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"lifecycle users {lifecycle:,.0f} req/s, plain FastHttpUser {plain:,.0f} req/s: "
        f"ratio {ratio:.2f} (goal >= {GOAL})"
    )
    print(f"client-side cost of one lifecycle step, HTTP stubbed out: {overhead_us:.1f} µs")
    print(f"written: {args.out}")
    return 0  # a figure short of its goal is a result, not an error (the file says so)


if __name__ == "__main__":
    sys.exit(main())
