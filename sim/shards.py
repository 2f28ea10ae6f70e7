"""One run split by instance index: shards in processes (or on Dask), a sample of the fleet.

Every instance draws from its own streams (`dcrload.core.streams`), so any subset of the
fleet is simulated exactly as the whole fleet would simulate it. That gives two things:

- **shards** (`--jobs N`): instance i goes to shard i mod N; each shard runs to completion
  in its own process with the DCR arrivals recorded, the parent adds the counts
  (`RunCounts.merge`, exact) and checks the FIFO queue on *all* the shards' arrivals
  together, so the result is the one-process result whenever no request waits. When one
  would, each shard runs the event engine on its share of the workers (`workers / N`,
  at least 1): the queue is then N small queues instead of one big one, which is stated in
  `engine.shards` and measured in docs/performance.md.
- **a sample** (`--sample F`): instance i is simulated when its `sample` draw u_i < F; the
  counts are scaled by 1/F and the server's workers by F (at least 1). The sampled
  instances are dealt into G replicate groups by the same draw (group ⌊u_i/F·G⌋), and each
  total or rate gets a 95 % interval from the delete-a-group jackknife over the groups
  (Kott 2001: the estimate without group g, scaled by G/(G−1), varies as the full estimate
  does; a Student t with G−1 degrees of freedom).

Shards run on a `ProcessPoolExecutor` whose workers die with the parent (`die_with_parent`),
on a Dask cluster given a scheduler address (`tcp://HOST:8786`) or on a local Dask cluster
(`local`, its dashboard on a free loopback port): a shard's task and its answer are plain
data (the scenario, numbers, lists), so they travel to another machine as they travel to
another process.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import numpy as np

from dcrload.commandline.processes import pool_worker_start
from dcrload.model.counts import Blocked, RunCounts, RunResult
from dcrload.model.drawn import first_draws
from dcrload.model.plans import FleetModel, Plan, fleet_plans, install_schedule
from dcrload.model.scenario import Scenario
from sim.collector import collector_off
from sim.direct import WouldQueue, run_fleet
from sim.driver import run_events
from sim.plainday import PlainDay
from sim.server import SimServer

GROUPS = 16
"""Replicate groups of a sampled run (the jackknife's degrees of freedom + 1)."""

T_975 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
    9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 19: 2.093,
    29: 2.045, 39: 2.023, 63: 1.998,
}  # fmt: skip
"""Student t quantiles (97.5 %) by degrees of freedom, for the 95 % intervals."""

# --------------------------------------------------------------------------- which instances


def sample_draws(key: int, indices: np.ndarray) -> np.ndarray:
    """Each instance's first `sample` draw, u_i in [0, 1): exactly
    `stream(key, i, "sample").random()`, for a whole array of indices at once."""
    _, values, _ = first_draws(key, "sample", indices, 1)
    result: np.ndarray = values[:, 0]
    return result


def shard_members(
    key: int, size: int, shard: int, shards: int, fraction: float, groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, groups) of the instances shard `shard` of `shards` simulates."""
    indices = np.arange(shard, size, shards, dtype=np.int64)
    if fraction >= 1.0 and groups == 1:
        return indices, np.zeros(len(indices), dtype=np.int64)
    u = sample_draws(key, indices)
    keep = u < fraction
    chosen = indices[keep]
    group = np.minimum((u[keep] / fraction * groups).astype(np.int64), groups - 1)
    return chosen, group


# --------------------------------------------------------------------------- one shard


@dataclass(frozen=True)
class ShardTask:
    """What one shard needs: plain data, picklable to a process or a Dask worker."""

    scenario: Scenario
    seed: int
    shard: int
    shards: int
    fraction: float = 1.0
    groups: int = 1
    mode: str = "direct"
    """"direct" (run to completion, arrivals recorded) or "event" (SimPy, FIFO queue)."""
    workers: int | None = None
    """The DCR workers this shard's server has (None: the scenario's)."""
    bulk: bool = True


def run_shard(task: ShardTask) -> dict[str, Any]:
    """Simulate one shard; return its counts per group, its DCR arrivals and its totals
    (with the garbage collector off, as in `simulate`: `sim.collector`)."""
    with collector_off():
        return _run_shard(task)


def _run_shard(task: ShardTask) -> dict[str, Any]:
    scenario = task.scenario
    if task.workers is not None:
        scenario = scenario.model_copy(
            update={"server": scenario.server.model_copy(update={"workers": task.workers})}
        )
    model = FleetModel(scenario, task.seed)
    model.bulk = task.bulk
    installs = install_schedule(model)
    size = scenario.fleet.instances + len(installs)
    chosen, group_of = shard_members(
        model.key, size, task.shard, task.shards, task.fraction, task.groups
    )
    info = scenario.scenario
    recorders = [
        RunCounts(info.duration, info.bin, len(scenario.cohorts)) for _ in range(task.groups)
    ]
    groups = dict(zip(chosen.tolist(), group_of.tolist(), strict=True))

    def recorder(plan: Plan) -> RunCounts:
        return recorders[groups[plan.index]]

    server = SimServer(scenario, fifo=task.mode == "event", counts=recorders[0])
    plans = fleet_plans(
        model,
        installs,
        keep=chosen.tolist(),  # type: ignore[arg-type]
        bulk_draws=task.mode != "event",
    )
    fast = PlainDay(model, server) if task.mode != "event" else None
    if task.mode == "event":
        events = run_events(model, plans, server, recorders[0], recorder=recorder)
    else:
        try:  # a shard's requests that wait for the run's workers wait among all shards'
            events = run_fleet(
                model,
                plans,
                server,
                recorders[0],
                recorder=recorder,
                check_queue=True,
                plain=fast,
            )
        except WouldQueue as queued:
            return {"queued": queued.instances}
    return {
        "groups": [counts.to_json() for counts in recorders],
        "arrivals": server.arrivals.tobytes(),
        "services": server.services.tobytes(),
        "clients": server.clients,
        "tokens": server.tokens,
        "events": events,
        "instances": len(chosen),
        "plain_days": fast.taken if fast is not None else 0,
    }


# --------------------------------------------------------------------------- running shards


def run_tasks(
    tasks: Sequence[ShardTask],
    jobs: int,
    dask: str | None = None,
    tick: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Every shard's answer, in task order: here (one job), on a process pool, or on Dask."""
    tick = tick or (lambda done: None)
    if dask is not None:
        return run_on_dask(tasks, dask, jobs, tick)
    if jobs <= 1 or len(tasks) <= 1:
        answers = []
        for done, task in enumerate(tasks, 1):
            answers.append(run_shard(task))
            tick(done)
        return answers
    context = multiprocessing.get_context()
    parent = os.getpid() if context.get_start_method() == "fork" else None
    with futures.ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=context,
        initializer=pool_worker_start,
        initargs=(parent,),
    ) as pool:
        submitted = [pool.submit(run_shard, task) for task in tasks]
        pending = set(submitted)
        while pending:
            _, pending = futures.wait(pending, timeout=0.25, return_when="FIRST_COMPLETED")
            tick(len(submitted) - len(pending))
        return [f.result() for f in submitted]


def dask_address(text: str) -> str:
    """`--dask` checked: "local", or a scheduler's tcp://HOST:PORT (UsageError else)."""
    from dcrload.core.errors import UsageError

    if text == "local":
        return text
    scheme, _, rest = text.partition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("tcp", "tls") or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"--dask {text}: expected a scheduler address like tcp://10.0.0.5:8786, or local"
        )
    return text


def dask_client(address: str, jobs: int) -> Any:
    """A Dask client: of the scheduler at `address`, or of a local cluster on loopback
    (`address == "local"`, `jobs` worker processes, no dashboard)."""
    from distributed import Client, LocalCluster

    if address == "local":
        cluster = LocalCluster(
            host="127.0.0.1",
            processes=True,
            n_workers=max(1, jobs),
            threads_per_worker=1,
            dashboard_address="127.0.0.1:0",  # None does not turn it off: dask/distributed#8136
        )
        client = Client(cluster)
        client._dcrload_cluster = cluster  # closed with the client (see close_dask)
        return client
    return Client(address, timeout="10s")


def close_dask(client: Any) -> None:
    client.close()
    cluster = getattr(client, "_dcrload_cluster", None)
    if cluster is not None:
        cluster.close()


def run_on_dask(
    tasks: Sequence[ShardTask], address: str, jobs: int, tick: Callable[[int], None]
) -> list[dict[str, Any]]:
    """Each shard a Dask task (pure=False: a shard is cheap to name but not to share)."""
    from distributed import as_completed

    client = dask_client(address, jobs)
    try:
        submitted = [client.submit(run_shard, task, pure=False) for task in tasks]
        for done, _ in enumerate(as_completed(submitted), 1):
            tick(done)
        return [f.result() for f in submitted]
    finally:
        close_dask(client)


# --------------------------------------------------------------------------- merging


class ScaledBlocked(Blocked):
    """Blocked time of a sample, weighted by 1/F (starts and ends stay the sample's own)."""

    def __init__(self, duration: float, bin_width: float, weight: float) -> None:
        super().__init__(duration, bin_width)
        self.weight = weight

    def area(self, until: float | None = None) -> list[float]:
        return [a * self.weight for a in super().area(until)]

    def peak(self) -> int:
        return round(super().peak() * self.weight)

    def level_at(self, t: float) -> int:
        return round(super().level_at(t) * self.weight)

    def level_at_end(self) -> int:
        return round(super().level_at_end() * self.weight)


def scaled(data: dict[str, Any], factor: float) -> dict[str, Any]:
    """`RunCounts.to_json` data with every count multiplied by `factor` and rounded, and
    no blocked times (those are weighted, not copied: `ScaledBlocked`)."""
    if factor == 1.0:
        return {**data, "blocked_starts": [], "blocked_ends": []}

    def row(values: Sequence[int]) -> list[int]:
        """Rounded on the running sum, so that the row's total is its scaled total
        (bin-by-bin rounding would lose a third of every single request at F = 0.3)."""
        out, before, running = [], 0, 0
        for v in values:
            running += v
            after = round(running * factor)
            out.append(after - before)
            before = after
        return out

    out = dict(data)
    out["series"] = [[e, o, row(r)] for e, o, r in data["series"]]
    for key in ("reauthentications", "expired_calls"):
        out[key] = row(data[key])
    for key in ("losses", "updates", "api_wanted", "failed_api_calls", "instances"):
        out[key] = round(data[key] * factor)
    out["by_cohort"] = [{k: round(v * factor) for k, v in c.items()} for c in data["by_cohort"]]
    out["blocked_starts"], out["blocked_ends"] = [], []
    return out


def merged(scenario: Scenario, parts: Sequence[dict[str, Any]], factor: float) -> RunCounts:
    """One RunCounts of several `to_json` parts, scaled by `factor`."""
    info = scenario.scenario
    counts = RunCounts(info.duration, info.bin, len(scenario.cohorts))
    if factor == 1.0:  # nothing to scale: add the parts as they are
        for part in parts:
            counts.merge(part)
        return counts
    counts.blocked = ScaledBlocked(info.duration, info.bin, factor)
    whole = _sum_parts(scenario, parts)  # added exactly, then scaled once
    counts.merge(scaled(whole, factor))
    counts.blocked.extend(whole["blocked_starts"], whole["blocked_ends"])
    return counts


def queue_free(scenario: Scenario, answers: Sequence[dict[str, Any]], workers: int) -> bool:
    """Whether no DCR request of all the shards together would have waited for a worker."""
    if any("queued" in answer for answer in answers):
        return False  # a shard saw a request wait already
    server = SimServer(scenario, fifo=False)
    server.workers = workers
    for answer in answers:
        server.arrivals.frombytes(answer["arrivals"])
        server.services.frombytes(answer["services"])
    return server.queue_free()


# --------------------------------------------------------------------------- intervals


def _group_metrics(scenario: Scenario, data: dict[str, Any]) -> dict[str, np.ndarray]:
    """Per-bin arrays of the linear quantities an interval is given for, for one group."""
    info = scenario.scenario
    bins = max(1, math.ceil(info.duration / info.bin - 1e-9))
    out: dict[str, np.ndarray] = {}
    for endpoint in ("register", "token", "api"):
        out[endpoint] = np.zeros(bins)
    for endpoint, _, row in data["series"]:
        out[endpoint] += np.asarray(row[:bins], dtype=float)
    out["reauthentications"] = np.asarray(data["reauthentications"][:bins], dtype=float)
    out["expired_token_calls"] = np.asarray(data["expired_calls"][:bins], dtype=float)
    blocked = Blocked(info.duration, info.bin)
    blocked.extend(data["blocked_starts"], data["blocked_ends"])
    out["blocked_instance_seconds"] = np.asarray(blocked.area(), dtype=float)
    return out


def intervals(
    scenario: Scenario, groups: Sequence[dict[str, Any]], fraction: float
) -> dict[str, Any]:
    """95 % delete-a-group jackknife intervals of the scaled totals and peak rates
    (clipped at 0: a count or a rate is never negative)."""
    g = len(groups)
    per = [_group_metrics(scenario, data) for data in groups]
    width = scenario.scenario.bin
    result: dict[str, Any] = {}
    t = T_975.get(g - 1) or T_975[max(k for k in T_975 if k <= g - 1)]
    for name in per[0]:
        matrix = np.stack([p[name] for p in per])  # groups × bins
        whole = matrix.sum(axis=0) / fraction
        without = (matrix.sum(axis=0) - matrix) / fraction * g / (g - 1)
        stats = {"total": (whole.sum(), without.sum(axis=1))}
        if name in ("register", "token", "api"):
            stats["peak_rps"] = (whole.max() / width, without.max(axis=1) / width)
        for stat, (estimate, replicates) in stats.items():
            se = math.sqrt((g - 1) / g * float(((replicates - estimate) ** 2).sum()))
            result[f"{name}.{stat}"] = {
                "estimate": round(float(estimate), 4),
                "low": round(max(0.0, float(estimate) - t * se), 4),  # counts are never < 0
                "high": round(float(estimate) + t * se, 4),
            }
    return result


# --------------------------------------------------------------------------- the run


def simulate_split(
    scenario: Scenario,
    *,
    seed: int,
    jobs: int = 1,
    sample: float = 1.0,
    dask: str | None = None,
    progress: Callable[[float], None] | None = None,
    bulk: bool = True,
    event: bool = False,
) -> RunResult:
    """`sim.fleet.simulate` over `jobs` shards and/or a `sample` of the fleet (see above)."""
    started = time.perf_counter()
    shards = max(1, jobs)
    groups = GROUPS if sample < 1.0 else 1
    duration = scenario.scenario.duration
    full_workers = scenario.server.workers
    workers = max(1, round(full_workers * sample))

    def tick(done: int) -> None:
        if progress is not None:
            progress(duration * done / shards)

    def tasks(mode: str, workers_each: int | None) -> list[ShardTask]:
        return [
            ShardTask(scenario, seed, k, shards, sample, groups, mode, workers_each, bulk)
            for k in range(shards)
        ]

    mode, fell_back = ("event" if event else "direct"), False
    if event and shards > 1:
        raise ValueError("shared throttle buckets cannot be split into shards: use jobs=1")
    each = None if (shards == 1 and sample >= 1.0) else max(1, round(workers / shards))
    # a direct shard's server has the run's `workers` (it serves without queueing; they
    # are what its early queue check counts against)
    answers = run_tasks(tasks(mode, workers if mode == "direct" else each), jobs, dask, tick)
    if mode == "direct" and not queue_free(scenario, answers, workers):
        mode, fell_back = "event", True
        answers = run_tasks(tasks("event", each), jobs, dask, tick)
    factor = 1.0 / sample
    by_group = [[a["groups"][k] for a in answers] for k in range(groups)]  # group k across shards
    # with no replicate groups, the shards' parts are added once (a sample's intervals
    # need each group's parts added first)
    group_data = by_group[0] if groups == 1 else [_sum_parts(scenario, parts) for parts in by_group]
    counts = merged(scenario, group_data, factor)
    fleet = scenario.fleet
    installs = len(install_schedule(FleetModel(scenario, seed)))
    engine: dict[str, Any] = {"mode": mode, "fell_back": fell_back}
    if mode == "direct":
        engine["plain_days"] = sum(a["plain_days"] for a in answers)
    if shards > 1 or dask is not None:
        engine["shards"] = {
            "count": shards,
            "on": dask or "processes",
            "workers_each": each if mode == "event" else workers,  # a sample's share
            "exact": mode == "direct",
        }
    simulated = sum(a["instances"] for a in answers)
    if sample < 1.0:
        engine["sample"] = {
            "fraction": sample,
            "instances_simulated": simulated,
            "workers": workers,
            "workers_in_proportion": full_workers * sample,
            "groups": groups,
            "method": "delete-a-group jackknife over replicate groups, 95 % t interval",
            "intervals": intervals(scenario, group_data, sample),
        }
    return RunResult(
        scenario=scenario,
        seed=seed,
        duration=duration,
        counts=counts,
        installs=installs,
        cold_instances=0 if fleet.start == "warm" else fleet.instances,
        clients_registered=round(sum(a["clients"] for a in answers) * factor),
        tokens_issued=round(sum(a["tokens"] for a in answers) * factor),
        events=sum(a["events"] for a in answers),
        wall_seconds=time.perf_counter() - started,
        engine=engine,
    )


def _sum_parts(scenario: Scenario, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Several shards' counts of one group, added exactly, as `to_json` data."""
    info = scenario.scenario
    counts = RunCounts(info.duration, info.bin, len(scenario.cohorts))
    for part in parts:
        counts.merge(part)
    return counts.to_json()


__all__ = [
    "GROUPS",
    "ShardTask",
    "intervals",
    "merged",
    "queue_free",
    "run_shard",
    "run_tasks",
    "sample_draws",
    "shard_members",
    "simulate_split",
]
