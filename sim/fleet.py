"""The fleet: build every instance of a scenario, run them in one SimPy environment, count.

Reads like a SimPy example: `simulate` sets up the environment, the `SimServer`, and one
`instance_process` per app instance (the installed base at time 0, new installs at their
install times); faults are windows and draws the processes consult. Randomness comes from a
few `random.Random` streams derived from the scenario's seed (usage, faults, strategies,
server), never from the global one: SimPy's event order is deterministic, so the same
scenario and seed give the same run. (A `Random` per instance would cost 2.5 kB each, too
much for a million instances.)
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from dcrload.core.actions import (
    ApiCallDue,
    AppBackgrounded,
    AppLaunched,
    CallApi,
    FetchToken,
    Register,
    Response,
)
from dcrload.core.clocks import PERFECT, DeviceClock
from dcrload.core.lifecycle import MIN_TOKEN_USE, AppInstance, InstanceConfig
from dcrload.model.scenario import Cohort, Rollout, Scenario
from dcrload.model.usage import DAY, Diurnal, install_times
from sim.counters import Counters, Gauge, Tally
from sim.instance import Plan, instance_process
from sim.server import SimServer

ProgressCallback = Callable[[float], None]
"""Called with the simulated time reached, a few hundred times per run."""


@dataclass
class SimulationResult:
    """Everything a run counted; `dcrload.results.files` turns it into files."""

    scenario: Scenario
    seed: int
    duration: float
    counters: Counters
    blocked: Gauge
    reauthentications: Tally
    expired_calls: Tally
    installs: int
    cold_instances: int
    losses: int
    updates: int
    api_wanted: int
    failed_api_calls: int
    clients_registered: int
    tokens_issued: int
    events: int
    wall_seconds: float
    cohorts: dict[str, dict[str, int]] = field(default_factory=dict)


class FleetContext:
    """What every instance process shares: environment, server, counters and random streams."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, seed: int) -> None:
        self.env = env
        self.scenario = scenario
        self.duration = scenario.scenario.duration
        bin_width = scenario.scenario.bin
        root = random.Random(seed)
        self.usage_rng = random.Random(root.getrandbits(64))
        self.fault_rng = random.Random(root.getrandbits(64))
        self.strategy_rng = random.Random(root.getrandbits(64))
        self.server = SimServer(scenario, random.Random(root.getrandbits(64)))
        self.counters = Counters(self.duration, bin_width)
        self.blocked = Gauge(self.duration, bin_width)
        self.reauthentications = Tally(self.duration, bin_width)
        self.expired_calls = Tally(self.duration, bin_width)
        self.diurnal = Diurnal.from_usage(scenario.usage)
        self.loss_rate = (
            scenario.faults.credential_loss_per_day + scenario.faults.reinstall_per_day
        ) / DAY
        self.rollouts: dict[str, Rollout] = {
            r.software_id: r.rollout for r in scenario.faults.revocations if r.rollout
        }
        self.events = 0
        self.losses = 0
        self.updates = 0
        self.api_wanted = 0
        self.instances: list[tuple[int, AppInstance]] = []
        self.by_cohort: list[dict[str, int]] = [{} for _ in scenario.cohorts]
        self._primed = 0
        self._configs = [
            InstanceConfig(
                refresh=c.refresh,
                basis=c.expiry_basis,
                platform=c.platform,
                retry=c.retry,
                antipattern=c.antipattern,
            )
            for c in scenario.cohorts
        ]

    def cohort_count(self, cohort: int, what: str, now: float, n: int = 1) -> None:
        """Count a request or an impact for one cohort (inside the run only)."""
        if now < self.duration:
            counts = self.by_cohort[cohort]
            counts[what] = counts.get(what, 0) + n

    def cohort_summary(self) -> dict[str, dict[str, int]]:
        """Per cohort: instances, requests by endpoint and the impact counters."""
        result: dict[str, dict[str, int]] = {}
        for index, cohort in enumerate(self.scenario.cohorts):
            members = [inst for c, inst in self.instances if c == index]
            counts = self.by_cohort[index]
            name = cohort.name or f"cohort-{index}"
            result[name] = {
                "instances": len(members),
                "register": counts.get("register", 0),
                "token": counts.get("token", 0),
                "api": counts.get("api", 0),
                "reauthentications": counts.get("reauthentications", 0),
                "expired_token_calls": counts.get("expired_token_calls", 0),
                "failed_api_calls": sum(inst.failed_api_calls for inst in members),
            }
        return result

    def result(self, seed: int, *, installs: int, wall: float) -> SimulationResult:
        """Close the books at the end of a run: everything counted, as one result."""
        self.blocked.close()
        fleet = self.scenario.fleet
        return SimulationResult(
            scenario=self.scenario,
            seed=seed,
            duration=self.duration,
            counters=self.counters,
            blocked=self.blocked,
            reauthentications=self.reauthentications,
            expired_calls=self.expired_calls,
            installs=installs,
            cold_instances=0 if fleet.start == "warm" else fleet.instances,
            losses=self.losses,
            updates=self.updates,
            api_wanted=self.api_wanted,
            failed_api_calls=sum(inst.failed_api_calls for _, inst in self.instances),
            clients_registered=self.server.clients,
            tokens_issued=self.server.tokens,
            events=self.events,
            wall_seconds=wall,
            cohorts=self.cohort_summary(),
        )

    # ------------------------------------------------------------------ draws

    def next_session(self, now: float) -> float:
        return self.diurnal.next_start(now, self.usage_rng)

    def session_length(self) -> float:
        return self.scenario.usage.session_length.sample(self.usage_rng)

    def next_loss(self, now: float) -> float:
        if self.loss_rate <= 0:
            return math.inf
        return now + self.fault_rng.expovariate(self.loss_rate)

    def update_time(self, inst: AppInstance, plan: Plan) -> float:
        """When this instance installs the update replacing its statement (inf: never)."""
        rollout = self.rollouts.get(inst.software_id)
        if rollout is None:
            return math.inf
        return max(plan.install_at, adoption_time(rollout, self.fault_rng.random()))

    def replacement_for(self, software_id: str) -> str | None:
        rollout = self.rollouts.get(software_id)
        return rollout.software_id if rollout else None

    def clock(self) -> DeviceClock:
        drift = self.scenario.faults.clock
        rng = self.fault_rng
        if drift.wild_fraction and rng.random() < drift.wild_fraction:
            offset = drift.wild_offset.sample(rng)
        else:
            offset = drift.offset.sample(rng)
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

    # ------------------------------------------------------------------ instances

    def new_instance(self, cohort_index: int, install_at: float) -> AppInstance:
        cohort = self.scenario.cohorts[cohort_index]
        software_id = cohort.software_id
        rollout = self.rollouts.get(software_id)
        if rollout is not None and install_at >= rollout.released_at:
            software_id = rollout.software_id  # installed after the update shipped
        inst = AppInstance(
            self._configs[cohort_index],
            software_statement=software_id,
            software_id=software_id,
            clock=self.clock(),
            rng=self.strategy_rng,
        )
        self.instances.append((cohort_index, inst))
        return inst

    def prime(self, inst: AppInstance, plan: Plan) -> None:
        """Give a warm instance the credentials and token it got before the run began."""
        ttl = self.scenario.token.ttl
        issued = -self.usage_rng.uniform(0.0, token_cycle(inst.config, ttl))
        self._primed += 1
        sid = inst.software_id
        inst.handle(AppLaunched(), issued)
        action = inst.next_action(issued)
        assert isinstance(action, Register)
        body = {"client_id": f"{sid}|w{self._primed}", "client_secret": "secret"}
        inst.handle(Response(201, body), issued)
        inst.handle(ApiCallDue(), issued)
        action = inst.next_action(issued)
        assert isinstance(action, FetchToken)
        token = {
            "access_token": f"{issued + ttl!r}|{sid}|w{self._primed}",
            "expires_in": ttl,
            "created_at": issued * 1000.0,
        }
        inst.handle(Response(201, token), issued)
        action = inst.next_action(issued)
        assert isinstance(action, CallApi)
        inst.handle(Response(200), issued)
        inst.handle(AppBackgrounded(), issued)
        inst.registrations = 0


def token_cycle(config: InstanceConfig, ttl: float) -> float:
    """How long a token serves before its instance replaces it in the steady state: up to
    the strategy's refresh point where timers fire (tv, server), the whole lifetime else.

    A warm token's age is drawn below this, so a warm start begins in the steady state;
    drawing it over the whole lifetime would send every token past its refresh point at
    t=0 (half the fleet for MSAL's 50 %), a herd that echoes every cycle.
    """
    if config.platform == "mobile" or not config.refresh.proactive:
        return ttl
    planned = config.refresh.plan(0.0, ttl, random.Random(0)).refresh_at
    return min(ttl, max(planned, MIN_TOKEN_USE * ttl))


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


def cohort_index(cohorts: list[Cohort], u: float) -> int:
    """The cohort that quantile `u` of the fleet falls in, by the cohorts' shares."""
    total = 0.0
    for index, cohort in enumerate(cohorts):
        total += cohort.share
        if u < total:
            return index
    return len(cohorts) - 1


def plan_instance(
    ctx: FleetContext, index: int, install_at: float, *, base: bool, bulk: bool = True
) -> Plan:
    """Draw one instance's life from `ctx.usage_rng`: cohort, first launch, uninstall.

    `base` instances are installed at time 0 (warm or cold as the fleet says); the others
    install at `install_at` and launch at once. The order of the draws is part of the
    contract: the load test's replay draws the same plans from per-instance streams.
    """
    scenario = ctx.scenario
    fleet = scenario.fleet
    rng = ctx.usage_rng
    warm = base and fleet.start == "warm"
    first_launch = install_at
    if base and not warm:
        first_launch = rng.uniform(0.0, fleet.launch_spread)
    chosen = cohort_index(scenario.cohorts, rng.random())
    cohort = scenario.cohorts[chosen]
    churn = fleet.churn_per_day / DAY
    uninstall = install_at + rng.expovariate(churn) if churn > 0 else math.inf
    always_on = cohort.platform == "server"
    if warm:
        first_launch = 0.0 if always_on else ctx.next_session(0.0)
    shared = always_on and not cohort.forward_device_address
    return Plan(
        install_at=install_at,
        uninstall_at=uninstall,
        warm=warm,
        first_launch=first_launch,
        always_on=always_on,
        device=f"shared-{chosen}" if shared else f"d{index}",
        cohort=chosen,
        bulk=bulk and not (shared and scenario.server.throttle.enabled),
    )


def simulate(
    scenario: Scenario, *, seed: int | None = None, progress: ProgressCallback | None = None
) -> SimulationResult:
    """Run the scenario's fleet for its duration and return the counts."""
    seed = scenario.scenario.seed if seed is None else seed
    started = time.perf_counter()
    env = simpy.Environment()
    ctx = FleetContext(env, scenario, seed)
    fleet = scenario.fleet

    def start(plan: Plan) -> None:
        inst = ctx.new_instance(plan.cohort, plan.install_at)
        env.process(instance_process(ctx, inst, plan))

    for index in range(fleet.instances):
        start(plan_instance(ctx, index, 0.0, base=True))
    installs = install_times(fleet.installs, ctx.duration, ctx.usage_rng)
    for offset, at in enumerate(installs):
        start(plan_instance(ctx, fleet.instances + offset, at, base=False))

    steps = 200
    for k in range(1, steps + 1):
        env.run(until=ctx.duration * k / steps)
        if progress is not None:
            progress(env.now)
    return ctx.result(seed, installs=len(installs), wall=time.perf_counter() - started)
