"""`ScenarioShape`: Locust's user count follows the scenario's active instances.

The curve itself is `dcrload.model.loadshape.users_at` — installed instances (installs, churn)
times the chance of being in a session (the diurnal profile), the very functions the
simulation draws from — read at the scaled driver time. `tick` only converts Locust's run
time into driver time and stops the test when the replay's duration is over.
"""

from __future__ import annotations

from typing import Any

from locust import LoadTestShape

from dcrload.model.loadshape import users_at
from loadtests.run import replay_of


class ScenarioShape(LoadTestShape):
    """Users over time from the scenario; ends after the warm-up and the run."""

    def tick(self) -> tuple[int, float] | None:
        runner: Any = self.runner
        replay = replay_of(runner.environment)
        settings = replay.settings()
        elapsed = self.get_run_time()
        if elapsed >= settings.warmup + settings.run_seconds:
            return None
        simulated = max(0.0, elapsed - settings.warmup) * settings.time_scale
        users = users_at(settings.scenario, simulated, replay.workers())
        return users, float(max(10, users))
