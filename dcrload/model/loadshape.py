"""The load test's fleet and load curve, as pure functions of the scenario and of time.

A load test plays a scenario at a smaller scale and a faster clock: at most
`loadtest.max_instances` instances (installs scaled by the same factor) with
`loadtest.time_scale` simulated seconds per real second. `loadtest_scenario` is that scaled
scenario; the prediction simulates exactly it, and the Locust replay plays exactly it.

`active_instances` is the number of instances expected to be busy at scenario time `t`
(installed × in a session, always-on instances counted whole). It is built from the same
curves the simulation draws from (`dcrload.model.usage.expected_installed`,
`expected_in_session`), and `users_at` turns it into the Locust user count of the load
shape. Nothing here sleeps, reads a clock or imports Locust, so the curve is unit-tested.
"""

from __future__ import annotations

import math

from dcrload.core.durations import format_duration, parse_duration
from dcrload.core.errors import UsageError
from dcrload.model.estimate import check_budget
from dcrload.model.scenario import Scenario, load_scenario
from dcrload.model.usage import expected_in_session, expected_installed

MAX_RUN_SECONDS = 7 * 86400.0
"""Longest real duration of a load test (a week; a soak longer than that is a service)."""


def sample_factor(scenario: Scenario) -> float:
    """Share of the scenario's fleet a load test plays (1 when the cap is not reached)."""
    instances = scenario.fleet.instances
    cap = scenario.loadtest.max_instances
    if instances <= cap:
        return 1.0
    return cap / instances


def loadtest_scenario(scenario: Scenario, run_seconds: float) -> Scenario:
    """The scenario a load test of `run_seconds` real seconds plays (and the prediction runs).

    The installed base is capped at `loadtest.max_instances`, new installs scaled by the
    same factor, and the duration is `run_seconds × time_scale` simulated seconds.
    """
    if run_seconds <= 0:
        raise ValueError("the run must last more than 0 seconds")
    factor = sample_factor(scenario)
    fleet = scenario.fleet
    installs = fleet.installs.model_copy(
        update={
            "per_day": fleet.installs.per_day * factor,
            "total": round(fleet.installs.total * factor),
        }
    )
    new_fleet = fleet.model_copy(
        update={
            "instances": min(fleet.instances, scenario.loadtest.max_instances),
            "installs": installs,
        }
    )
    info = scenario.scenario.model_copy(
        update={"duration": run_seconds * scenario.loadtest.time_scale}
    )
    return scenario.model_copy(update={"fleet": new_fleet, "scenario": info})


def always_on_share(scenario: Scenario) -> float:
    """Share of the fleet that is always in a session (server-platform cohorts)."""
    return sum(c.share for c in scenario.cohorts if c.platform == "server")


def active_instances(scenario: Scenario, t: float) -> float:
    """Expected instances busy at scenario time `t`: in a session, or always on."""
    installed = expected_installed(scenario.fleet, t)
    on = always_on_share(scenario)
    return installed * (on + (1.0 - on) * expected_in_session(scenario.usage, t))


def users_at(scenario: Scenario, t: float, workers: int = 1) -> int:
    """Locust users the load shape asks for at scenario time `t` (each plays many instances).

    `loadtest.instances_per_user` active instances per user, and at least
    `loadtest.min_users` per worker process so that every worker's instances are played.
    """
    loadtest = scenario.loadtest
    wanted = math.ceil(active_instances(scenario, t) / loadtest.instances_per_user - 1e-9)
    return max(loadtest.min_users * max(1, workers), wanted)


def shape_schedule(
    scenario: Scenario, run_seconds: float, workers: int = 1, step: float = 1.0
) -> list[tuple[float, int]]:
    """(real second, users) at every `step` real seconds of a run: the load shape, tabulated."""
    scale = scenario.loadtest.time_scale
    count = max(1, math.ceil(run_seconds / step))
    return [(k * step, users_at(scenario, k * step * scale, workers)) for k in range(count)]


def warmup_seconds(scenario: Scenario, workers: int = 1) -> float:
    """Real seconds set aside before driver time 0 for warm instances to get credentials.

    A warm installed base already holds credentials and a token; the replay obtains them
    from the server before the run starts (two requests per warm instance, spread over
    the workers). Cold fleets need no warm-up.
    """
    if scenario.fleet.start != "warm" or scenario.fleet.instances == 0:
        return 0.0
    warm = min(scenario.fleet.instances, scenario.loadtest.max_instances)
    return 1.0 + 2.0 * warm / 1000.0 / max(1, workers)


def prediction_scenario(scenario: Scenario) -> Scenario:
    """The scaled scenario as the prediction must see it: with whole-second token times.

    Access tokens carry `iat` and `exp` in whole seconds (JWT NumericDate, and the mock
    floors `iat`), so a token lives between `L − 1` and `L` real seconds after it arrives,
    `L` = ttl / time_scale. At time scale 1 that is nothing; compressed 240×, one second
    is four simulated minutes. The prediction models it as the TTL jitter it is: each token
    lives ttl·(1 − U(0, 1/L)) on top of the scenario's own jitter.
    """
    scale = scenario.loadtest.time_scale
    token = scenario.token
    if scale <= 1.0:
        return scenario
    whole = max(1.0, round(token.ttl / scale))
    jitter = 1.0 - (1.0 - token.ttl_jitter) * (1.0 - 1.0 / whole)
    ttl = whole * scale
    return scenario.model_copy(
        update={"token": token.model_copy(update={"ttl": ttl, "ttl_jitter": min(jitter, 0.99)})}
    )


def resolve_run(
    path: str,
    overrides: list[str],
    *,
    time_scale: float | None,
    real_target: bool,
    duration: str | None,
    duration_flag: str = "--duration",
    default_seconds: float | None = None,
) -> tuple[Scenario, float]:
    """The scenario of a load test and its real duration in seconds.

    `time_scale` (when given) overrides the scenario's; against a real target the scale is
    1 unless the user insists. The duration is `duration` if given, else `default_seconds`,
    else the scenario's duration divided by the time scale. Bad input raises UsageError.
    """
    overrides = list(overrides)
    if time_scale:
        overrides.append(f"loadtest.time_scale={time_scale}")
    elif real_target:
        overrides.append("loadtest.time_scale=1")
    scenario = load_scenario(path, overrides, budget=False)  # the scaled one is checked
    if duration:
        try:
            run_seconds = parse_duration(duration)
        except ValueError as error:
            raise UsageError(f"{duration_flag}: {error}") from None
    elif default_seconds:
        run_seconds = default_seconds
    else:
        run_seconds = scenario.scenario.duration / scenario.loadtest.time_scale
    if run_seconds <= 0:
        raise UsageError(f"{duration_flag} {duration}: expected more than 0 seconds")
    if run_seconds > MAX_RUN_SECONDS:
        raise UsageError(
            f"{duration_flag} {duration or format_duration(run_seconds)}: a load test of at "
            f"most {format_duration(MAX_RUN_SECONDS)} (lower it or raise loadtest.time_scale)"
        )
    check_budget(loadtest_scenario(scenario, run_seconds), path)
    return scenario, run_seconds
