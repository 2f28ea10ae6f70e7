"""Simulate a scenario's fleet: plans, agents, a server model, and the engine that fits.

`simulate` draws every instance's plan (`dcrload.model.plans`), builds its agent
(`dcrload.model.agent`) and runs them against a `SimServer`:

- **run to completion** (`sim.direct`) when instances cannot interact: each agent runs
  alone, one after another, and afterwards the DCR arrivals are checked against the
  workers — if no request would have waited, the counts are exactly those of the event
  engine; if one would have, the run starts again on
- **the event engine** (`sim.driver`, SimPy): every agent a process in one environment,
  the FIFO queue computed exactly. A throttle bucket shared by many devices (a proxy that
  drops `X-Forwarded-For`) always needs it.

`engine="event"` forces SimPy, `engine="direct"` refuses the fall-back (for tests and
benchmarks). Both engines draw from the same per-instance streams, so the same scenario and
seed give the same counts whichever engine ran them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from dcrload.model.counts import RunCounts, RunResult
from dcrload.model.plans import FleetModel, fleet_plans, install_schedule
from dcrload.model.scenario import Scenario
from sim.collector import collector_off
from sim.direct import WouldQueue, run_fleet
from sim.driver import run_events
from sim.plainday import PlainDay
from sim.server import SimServer

ProgressCallback = Callable[[float], None]
"""Called with the simulated time reached (or its share of the fleet), a few hundred times."""

Engine = Literal["auto", "direct", "event"]


def _share_of(progress: ProgressCallback, duration: float, size: int) -> Callable[[int], None]:
    """Progress of a run to completion: instances done, as a share of the duration."""

    def tick(done: int) -> None:
        progress(duration * done / max(1, size))

    return tick


class QueueingError(RuntimeError):
    """`engine="direct"` was asked for, but a DCR request would have waited for a worker."""


def needs_events(scenario: Scenario) -> bool:
    """Whether instances share a throttle bucket (they then interact at every request)."""
    if not scenario.server.throttle.enabled:
        return False
    return any(c.platform == "server" and not c.forward_device_address for c in scenario.cohorts)


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    progress: ProgressCallback | None = None,
    engine: Engine = "auto",
    bulk: bool = True,
    jobs: int = 1,
    sample: float = 1.0,
    dask: str | None = None,
    plain: bool = True,
) -> RunResult:
    """Run the scenario's fleet for its duration and return the counts.

    `bulk=False` steps every API call as an event of its own (the counts are the same;
    a test holds the two to it). `jobs` > 1 splits the fleet into shards run in parallel,
    `sample` < 1 simulates that fraction of it and scales the counts, `dask` runs the
    shards on a Dask cluster (`sim.shards`). `plain=False` runs every instance in the agent,
    also the plain days the run to completion otherwise runs without it (`sim.plainday`;
    same counts, a test holds the two to it). A fleet whose instances share a throttle
    bucket is not split (a shard would see only its share of the bucket's traffic).
    """
    seed = scenario.scenario.seed if seed is None else seed
    if (jobs > 1 or sample < 1.0 or dask is not None) and engine != "direct":
        from sim.shards import simulate_split

        asked = jobs
        if needs_events(scenario):
            jobs, dask = 1, None
        if jobs > 1 or sample < 1.0 or dask is not None:
            result = simulate_split(
                scenario,
                seed=seed,
                jobs=jobs,
                sample=sample,
                dask=dask,
                progress=progress,
                bulk=bulk,
                event=engine == "event" or needs_events(scenario),
            )
            if asked > jobs:
                result.engine["shards"] = {"count": 1, "why": "a shared throttle bucket"}
            return result
        if asked > jobs:
            single = simulate(scenario, seed=seed, progress=progress, engine=engine, bulk=bulk)
            single.engine["shards"] = {"count": 1, "why": "a shared throttle bucket"}
            return single
    started = time.perf_counter()
    model = FleetModel(scenario, seed)
    if not bulk:
        model.bulk = False
    installs = install_schedule(model)
    size = scenario.fleet.instances + len(installs)
    info = scenario.scenario
    mode = "event" if engine == "event" or needs_events(scenario) else "direct"
    fell_back, seen_after = False, 0
    fast: PlainDay | None = None
    with collector_off():  # nothing a run makes is cyclic garbage
        while True:
            counts = RunCounts(
                scenario.scenario.duration, scenario.scenario.bin, len(scenario.cohorts)
            )
            server = SimServer(scenario, fifo=mode == "event", counts=counts)
            plans = fleet_plans(model, installs, bulk_draws=mode == "direct")
            if mode == "direct":
                tick = None if progress is None else _share_of(progress, info.duration, size)
                fast = PlainDay(model, server) if plain else None
                try:
                    events = run_fleet(
                        model, plans, server, counts, tick, check_queue=True, plain=fast
                    )
                    if server.queue_free():
                        break
                    seen_after = size
                except WouldQueue as queued:
                    seen_after = queued.instances
                if engine == "direct":
                    raise QueueingError("a DCR request would have waited for a worker")
                mode, fell_back = "event", True
                continue
            events = run_events(model, plans, server, counts, progress)
            break
    wall = time.perf_counter() - started
    fleet = scenario.fleet
    return RunResult(
        scenario=scenario,
        seed=seed,
        duration=scenario.scenario.duration,
        counts=counts,
        installs=len(installs),
        cold_instances=0 if fleet.start == "warm" else fleet.instances,
        clients_registered=server.clients,
        tokens_issued=server.tokens,
        events=events,
        wall_seconds=wall,
        engine={"mode": mode, "fell_back": fell_back}
        | ({"queue_seen_after": seen_after} if fell_back else {})
        | ({"plain_days": fast.taken} if mode == "direct" and fast is not None else {}),
    )
