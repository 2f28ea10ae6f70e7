"""One fleet, two clocks: the prediction and the Locust replay draw the same instances.

A load test is checked against a prediction: the simulation of the same scaled scenario
(`dcrload.model.loadshape.loadtest_scenario`). Run with independent random draws, a fleet of a
few hundred instances over a couple of simulated hours differs from run to run by tens of
per cent, so no tolerance could tell a slow server from bad luck. Both sides therefore use
*common random numbers*: every instance owns three small random streams (usage, faults,
strategy) derived from the seed and its index, so instance 17 installs, launches, loses
its credentials, drifts and jitters identically in the prediction and in the replay, and
what remains between them is what the server did.

`ReplayContext` is the simulation's own `sim.fleet.FleetContext` with those streams: its
`usage_rng`, `fault_rng` and `strategy_rng` answer with the streams of the instance being
stepped (`current`), so every draw the fleet code makes — today's and any added later —
lands on the right instance. `plan_fleet` draws each instance's plan as `sim.fleet.simulate`
does. `predict` runs the fleet in SimPy with `sim.instance.instance_process` and the
`SimServer`: the same instance process the Locust replay drives over HTTP
(`loadtests.fleet`). Nothing here imports Locust or gevent.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from dcrload.model.scenario import Scenario
from dcrload.model.usage import install_times
from sim.fleet import FleetContext, SimulationResult, plan_instance
from sim.instance import Plan, instance_process

USAGE, FAULTS, STRATEGY = 0, 1, 2
_MASK = (1 << 64) - 1
_TWO_53 = 1.0 / 9007199254740992.0


def derive_seed(seed: int, index: int, purpose: str) -> int:
    """A 64-bit seed for one stream of one instance (stable across processes and runs)."""
    digest = hashlib.blake2b(f"{seed}:{index}:{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class Stream:
    """A small random stream (splitmix64) with `random.Random`'s distribution methods.

    `random.Random` holds 2.5 kB of Mersenne-Twister state; three per instance would cost
    too much for large fleets. This holds one integer, and borrows the distributions
    (`expovariate`, `gauss`, `lognormvariate`, ...) from `random.Random`, which only call
    `random()` and `getrandbits()`.
    """

    __slots__ = ("gauss_next", "state")

    def __init__(self, seed: int) -> None:
        self.state = seed & _MASK
        self.gauss_next: float | None = None

    def _next(self) -> int:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        return (self._next() >> 11) * _TWO_53

    def getrandbits(self, k: int) -> int:
        bits, value = 0, 0
        while bits < k:
            value = (value << 64) | self._next()
            bits += 64
        return value >> (bits - k)


for _name in (
    "uniform",
    "expovariate",
    "gauss",
    "normalvariate",
    "lognormvariate",
    "triangular",
    "betavariate",
    "gammavariate",
    "paretovariate",
    "weibullvariate",
    "vonmisesvariate",
    "randrange",
    "randint",
    "choice",
    "choices",
    "shuffle",
    "sample",
    "_randbelow",
    "_randbelow_with_getrandbits",
    "binomialvariate",
):
    if hasattr(random.Random, _name):
        setattr(Stream, _name, getattr(random.Random, _name))


class ReplayContext(FleetContext):
    """`FleetContext` whose random streams are those of the instance being stepped.

    Set `current` to an instance's index before stepping it (`tagged` does it for SimPy
    processes, the Locust scheduler before every step); with `current` < 0 the shared
    streams of `FleetContext` answer.
    """

    def __init__(self, env: Any, scenario: Scenario, seed: int) -> None:
        self.current = -1
        self.seed_value = seed
        self._streams: dict[int, tuple[Stream, Stream, Stream]] = {}
        self._shared: list[Any] = [None, None, None]
        super().__init__(env, scenario, seed)

    def streams(self, index: int) -> tuple[Stream, Stream, Stream]:
        found = self._streams.get(index)
        if found is None:
            found = self._streams[index] = (
                Stream(derive_seed(self.seed_value, index, "usage")),
                Stream(derive_seed(self.seed_value, index, "faults")),
                Stream(derive_seed(self.seed_value, index, "strategy")),
            )
        return found

    def _pick(self, which: int) -> Any:
        if self.current < 0:
            return self._shared[which]
        return self.streams(self.current)[which]

    def _keep(self, which: int, rng: Any) -> None:
        self._shared[which] = rng

    usage_rng = property(lambda self: self._pick(USAGE), lambda self, v: self._keep(USAGE, v))
    fault_rng = property(lambda self: self._pick(FAULTS), lambda self, v: self._keep(FAULTS, v))
    strategy_rng = property(
        lambda self: self._pick(STRATEGY), lambda self, v: self._keep(STRATEGY, v)
    )


@dataclass(slots=True)
class Member:
    """One instance of the fleet: its index, plan and lifecycle."""

    index: int
    plan: Plan
    instance: Any
    cohort: int


def plan_fleet(ctx: ReplayContext, *, bulk: bool = True, keep: Any = None) -> list[Member]:
    """Draw every instance's plan (as `sim.fleet.simulate` does) from its own streams.

    `keep(index)` says which instances to build a lifecycle for (a worker's partition);
    the plans of the others are drawn all the same, so every process sees one fleet.
    """
    fleet = ctx.scenario.fleet
    installs = install_times(
        fleet.installs, ctx.duration, Stream(derive_seed(ctx.seed_value, -1, "installs"))
    )
    members: list[Member] = []
    try:
        for index in range(fleet.instances + len(installs)):
            ctx.current = index
            base = index < fleet.instances
            install_at = 0.0 if base else installs[index - fleet.instances]
            plan = plan_instance(ctx, index, install_at, base=base, bulk=bulk)
            if keep is not None and not keep(index):
                continue
            inst = ctx.new_instance(plan.cohort, install_at)
            members.append(Member(index, plan, inst, plan.cohort))
    finally:
        ctx.current = -1
    return members


def tagged(ctx: ReplayContext, index: int, process: Generator[Any, Any, None]) -> Generator:
    """Run an instance process with `ctx.current` set to its index while it decides."""
    value: Any = None
    thrown: BaseException | None = None
    while True:
        ctx.current = index
        try:
            event = process.throw(thrown) if thrown is not None else process.send(value)
        except StopIteration:
            return
        finally:
            ctx.current = -1
        thrown = None
        try:
            value = yield event
        except BaseException as error:  # an interrupt: hand it to the instance
            thrown, value = error, None


def predict(scenario: Scenario, seed: int | None = None) -> SimulationResult:
    """Simulate the scaled scenario with per-instance streams: the load test's prediction."""
    seed = scenario.scenario.seed if seed is None else seed
    started = time.perf_counter()
    env = simpy.Environment()
    ctx = ReplayContext(env, scenario, seed)
    members = plan_fleet(ctx, bulk=True)
    for member in members:
        process = instance_process(ctx, member.instance, member.plan)
        env.process(tagged(ctx, member.index, process))
    env.run(until=ctx.duration)
    installs = len(members) - scenario.fleet.instances
    return ctx.result(seed, installs=installs, wall=time.perf_counter() - started)
