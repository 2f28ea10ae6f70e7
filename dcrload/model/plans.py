"""The fleet as plans: who each instance is and when it lives, drawn from its own streams.

`FleetModel` holds what every agent of a scenario shares (the usage curves, the fault
rates, one lifecycle configuration per cohort); `fleet_plans` draws one `Plan` per
instance — the installed base at time 0, then the new installs — each from the instance's
own `usage` stream (`dcrload.core.streams`), so any subset of the fleet (a Locust worker's
share, a shard, a sample) draws exactly the plans the whole fleet would. The drivers turn
plans into agents (`dcrload.model.agent`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from dcrload.core.clocks import PERFECT, DeviceClock
from dcrload.core.lifecycle import MIN_TOKEN_USE, InstanceConfig
from dcrload.core.streams import Stream, run_key, stream
from dcrload.model.drawn import drawn_streams
from dcrload.model.scenario import Cohort, Rollout, Scenario
from dcrload.model.usage import DAY, Diurnal, install_times


@dataclass(slots=True)
class Plan:
    """The life of one instance, drawn before it starts."""

    index: int
    install_at: float
    uninstall_at: float
    warm: bool
    first_launch: float
    always_on: bool
    device: str
    cohort: int
    """Index of the instance's cohort in the scenario."""
    bulk: bool
    """Whether API calls may be counted in bulk (not when a throttle bucket is shared)."""
    usage: Stream
    """The instance's usage stream, positioned after the plan's own draws."""


class FleetModel:
    """What every agent of one scenario shares: curves, rates and cohort configurations."""

    def __init__(
        self, scenario: Scenario, seed: int, *, time_scale: float = 1.0, epoch: float = 0.0
    ) -> None:
        self.scenario = scenario
        self.seed = seed
        self.key = run_key(seed)
        self.duration = scenario.scenario.duration
        self.bin = scenario.scenario.bin
        self.api_interval = scenario.usage.api_interval
        self.session_length = scenario.usage.session_length
        self.diurnal = Diurnal.from_usage(scenario.usage)
        self.ttl = scenario.token.ttl
        faults = scenario.faults
        self.loss_rate = (faults.credential_loss_per_day + faults.reinstall_per_day) / DAY
        self.drift = faults.clock
        self._offset = self.drift.offset.sampler()
        self._wild_offset = self.drift.wild_offset.sampler()
        self.rollouts: dict[str, Rollout] = {
            r.software_id: r.rollout for r in faults.revocations if r.rollout
        }
        self.configs = [
            InstanceConfig(
                refresh=c.refresh,
                basis=c.expiry_basis,
                platform=c.platform,
                retry=c.retry,
                antipattern=c.antipattern,
                after_give_up=c.after_give_up,
                time_scale=time_scale,
                epoch=epoch,
            )
            for c in scenario.cohorts
        ]
        self.cycles = [token_cycle(c, self.ttl) for c in self.configs]
        self.bulk = True
        """Whether agents may ask for runs of API calls in one go (False: one by one)."""

    def stream(self, index: int, purpose: str) -> Stream:
        return stream(self.key, index, purpose)

    def software_id_at_install(self, cohort: Cohort, install_at: float) -> str:
        """The statement an instance ships with: its cohort's, or the replacement's when it
        is installed after the update that replaced a revoked statement was released."""
        rollout = self.rollouts.get(cohort.software_id)
        if rollout is not None and install_at >= rollout.released_at:
            return rollout.software_id
        return cohort.software_id

    def clock(self, rng: Stream) -> DeviceClock:
        """A device clock drawn from the instance's `clock` stream."""
        drift = self.drift
        wild = drift.wild_fraction
        offset = self._wild_offset(rng) if wild and rng.random() < wild else self._offset(rng)
        skew = rng.gauss(0.0, drift.skew_ppm_sd) if drift.skew_ppm_sd else 0.0
        steps: list[tuple[float, float]] = []
        if drift.steps_per_day:
            t = rng.expovariate(drift.steps_per_day / DAY)
            while t < self.duration:
                steps.append((t, drift.step_size.sample(rng)))
                t += rng.expovariate(drift.steps_per_day / DAY)
        if offset == 0.0 and skew == 0.0 and not steps:
            return PERFECT
        return DeviceClock(offset=offset, skew_ppm=skew, steps=tuple(steps))

    def scaled(self, time_scale: float, epoch: float) -> FleetModel:
        """The same model with lifecycle configurations for a time-compressed load test."""
        model = FleetModel.__new__(FleetModel)
        model.__dict__.update(self.__dict__)
        model.configs = [
            dataclasses.replace(c, time_scale=time_scale, epoch=epoch) for c in self.configs
        ]
        return model


def token_cycle(config: InstanceConfig, ttl: float) -> float:
    """How long a token serves before its instance replaces it in the steady state: up to
    the strategy's refresh point where timers fire (tv, server), the whole lifetime else.

    A warm token's age is drawn below this, so a warm start begins in the steady state;
    drawing it over the whole lifetime would send every token past its refresh point at
    t=0 (half the fleet for MSAL's 50 %), a herd that echoes every cycle.
    """
    if config.platform == "mobile" or not config.refresh.proactive:  # see AppInstance.active
        return ttl
    planned = config.refresh.plan(0.0, ttl, FreshZeroSeed()).refresh_at
    return min(ttl, max(planned, MIN_TOKEN_USE * ttl))


_RANDOM = random.Random


class FreshZeroSeed:
    """The draws of a new `random.Random(0)`, from the first, for a strategy's plan that must
    not depend on any instance's stream (`token_cycle`, `own_cycle`): the same values, without a
    Mersenne Twister (about 10 µs) for each of a million instances."""

    __slots__ = ("drawn", "gauss_next")
    _values: ClassVar[list[float]] = []
    _source: ClassVar[random.Random] = random.Random(0)

    def __init__(self) -> None:
        self.drawn = 0
        self.gauss_next: float | None = None

    def random(self) -> float:
        values, drawn = self._values, self.drawn
        while len(values) <= drawn:
            values.append(self._source.random())
        self.drawn = drawn + 1
        return values[drawn]

    uniform = _RANDOM.uniform
    expovariate = _RANDOM.expovariate
    gauss = _RANDOM.gauss
    lognormvariate = _RANDOM.lognormvariate
    normalvariate = _RANDOM.normalvariate


def own_cycle(config: InstanceConfig, clock: DeviceClock, ttl: float, cohort_cycle: float) -> float:
    """`token_cycle` for one device clock: a clock far ahead makes its timer fire as soon as
    `MIN_TOKEN_USE` of the lifetime has passed, so in the steady state such a device holds
    a token that young — not one of the cohort's age, which would make every such device
    refresh at the same instant when the run starts."""
    if clock.exact or config.platform == "mobile" or not config.refresh.proactive:
        return cohort_cycle
    basis = config.basis
    reading = clock.reading(basis, 0.0)
    expiry = ttl if basis == "exp" else reading + ttl * clock.rate
    planned = config.refresh.refresh_at(reading, expiry, FreshZeroSeed())
    due = clock.when(basis, planned, 0.0)
    return min(cohort_cycle, max(due, MIN_TOKEN_USE * ttl))


def cohort_index(cohorts: list[Cohort], u: float) -> int:
    """The cohort that quantile `u` of the fleet falls in, by the cohorts' shares."""
    total = 0.0
    for index, cohort in enumerate(cohorts):
        total += cohort.share
        if u < total:
            return index
    return len(cohorts) - 1


def plan_instance(
    model: FleetModel, index: int, install_at: float, *, base: bool, rng: Stream | None = None
) -> Plan:
    """Draw one instance's life from its usage stream: cohort, first launch, uninstall.

    `base` instances are installed at time 0 (warm or cold as the fleet says); the others
    install at `install_at` and launch at once. `rng` is the instance's usage stream, fresh
    (made here if not given).
    """
    scenario = model.scenario
    fleet = scenario.fleet
    if rng is None:
        rng = model.stream(index, "usage")
    warm = base and fleet.start == "warm"
    chosen = cohort_index(scenario.cohorts, rng.random())
    cohort = scenario.cohorts[chosen]
    always_on = cohort.platform == "server"
    first_launch = install_at
    if base and not warm:
        first_launch = rng.uniform(0.0, fleet.launch_spread)
    elif warm:
        first_launch = 0.0 if always_on else model.diurnal.next_start(0.0, rng)
    churn = fleet.churn_per_day / DAY
    uninstall = install_at + rng.expovariate(churn) if churn > 0 else math.inf
    shared = always_on and not cohort.forward_device_address
    return Plan(
        index=index,
        install_at=install_at,
        uninstall_at=uninstall,
        warm=warm,
        first_launch=first_launch,
        always_on=always_on,
        device=f"shared-{chosen}" if shared else f"d{index}",
        cohort=chosen,
        bulk=not (shared and scenario.server.throttle.enabled),
        usage=rng,
    )


def install_schedule(model: FleetModel) -> list[float]:
    """The install times of the run's new installs, from the fleet's own stream."""
    installs = model.scenario.fleet.installs
    return install_times(installs, model.duration, model.stream(-1, "installs"))


def fleet_size(model: FleetModel, installs: list[float]) -> int:
    return model.scenario.fleet.instances + len(installs)


CHUNK = 1024
"""Plans drawn in bulk are made this many at a time (so only a chunk's draws are held)."""

T = TypeVar("T")


def chunks(items: Iterable[T]) -> Iterator[list[T]]:
    """`items` CHUNK at a time (the last chunk shorter), for work done per chunk."""
    ahead = iter(items)
    while chunk := list(itertools.islice(ahead, CHUNK)):
        yield chunk


USAGE_DRAWS = 32
"""Usage draws made in bulk per instance: a plan's and about a day's sessions."""


def fleet_plans(
    model: FleetModel,
    installs: list[float] | None = None,
    keep: Iterable[int] | None = None,
    *,
    bulk_draws: bool = False,
) -> Iterator[Plan]:
    """The plans of the instances whose index is in `keep` (default: the whole fleet).

    `bulk_draws` makes each chunk's usage streams with their first draws made at once
    (`dcrload.model.drawn`; the same draws), for a driver that runs plans one after
    another and drops them: a plan then holds USAGE_DRAWS floats until it is done.
    """
    installs = install_schedule(model) if installs is None else installs
    base = model.scenario.fleet.instances
    for chunk in chunks(range(base + len(installs)) if keep is None else keep):
        if bulk_draws:
            streams: Sequence[Stream] = drawn_streams(model.key, "usage", chunk, USAGE_DRAWS)
        else:
            streams = [model.stream(index, "usage") for index in chunk]
        for index, rng in zip(chunk, streams, strict=True):
            if index < base:
                yield plan_instance(model, index, 0.0, base=True, rng=rng)
            else:
                yield plan_instance(model, index, installs[index - base], base=False, rng=rng)


def adoption_time(rollout: Rollout, u: float) -> float:
    """The update time of an instance at quantile `u` of the adoption curve (inf: never)."""
    if u >= rollout.final_share:
        return math.inf
    share = u / rollout.final_share
    if rollout.curve == "stepped":
        for after, reached in rollout.steps:
            if reached >= u:
                return rollout.released_at + after
        return math.inf
    start = 1.0 / (1.0 + math.exp(rollout.half_life / rollout.width))
    p = start + share * (1.0 - start)
    return rollout.released_at + rollout.half_life + rollout.width * math.log(p / (1.0 - p))
