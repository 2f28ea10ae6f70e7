"""Drive the real `DcrUser` Locust class in-process over a fake client; print what it did.

Run by `tests/test_locust_user.py` in a subprocess, because `import locust` patches the
standard library for gevent and must never enter the pytest process. No Locust runner, no
network, no real time: the user is built on a bare `Environment`, its `client` is swapped
for `fakes.FakeClient`, the driver clock is `fakes.FakeClock`, and the test moves time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from locust.env import Environment  # first: Locust patches the standard library
from locust.exception import StopUser

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from fakes import FakeClient, FakeClock  # noqa: E402

from loadtests.run import replay_of  # noqa: E402
from loadtests.user import DcrUser  # noqa: E402


def options(scenario: str) -> argparse.Namespace:
    return argparse.Namespace(
        scenario=scenario,
        dcr_set=[],
        dcr_duration="1h",
        time_scale=1.0,
        dcr_statements="",
        software_statement=str(HERE / "scenarios" / "statement.jwt"),
        dcr_admin_key="",
        dcr_forward_for="auto",
        dcr_out="",
        dcr_seed=-1,
        dcr_workers=0,
        dcr_mock_latency_ms=0.0,
        dcr_mock_throttle_rate=0.0,
        run_time=None,
        host="http://dcr.test",
    )


def main(scenario: str, revoked_at: float) -> None:
    environment = Environment(user_classes=[DcrUser], host="http://dcr.test")
    environment.parsed_options = options(scenario)
    clock = FakeClock()
    replay_of(environment).clock = clock  # type: ignore[assignment]
    DcrUser.host = environment.host  # what a Locust runner does before it spawns users
    user = DcrUser(environment)
    client = FakeClient(clock, revoked_at=revoked_at)
    user.client = client  # type: ignore[assignment]
    fleet = user.fleet
    duration = fleet.scenario.scenario.duration
    steps = 0
    try:
        while clock.t < duration and steps < 100_000:
            user.step()
            steps += 1
            clock.t = fleet.heap[0][0] if fleet.heap else math.inf
    except StopUser:
        pass
    names = [name for _, name, _ in client.calls]
    print(
        json.dumps(
            {
                "calls": {name: names.count(name) for name in sorted(set(names))},
                "marks": sorted(set(client.marks)),
                "series": fleet.snapshot()["counts"]["series"],
                "pause": user.wait_time(),
                # every Locust process imports what this one did: plotting is not its job
                "matplotlib_loaded": "matplotlib" in sys.modules,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
