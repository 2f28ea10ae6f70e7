"""The Locust replay of a fleet: one process's instances, stepped over HTTP when due.

Each load-generating process (the local runner, or one worker) plays the instances whose
index ≡ its worker index (mod the worker count), so no two workers ever play the same
instance. It draws the whole fleet's plans (`loadtests.replay.plan_fleet`, the same draws
as the prediction) and keeps its own. Each instance runs the simulation's own
`sim.instance.instance_process` — sessions, API calls, credential loss, clock drift,
app updates, all asking `dcrload.core.lifecycle.AppInstance` what to do — with two things
swapped:

- the SimPy environment by `LiveEnv`, whose `now` is the driver clock (simulated seconds
  from the run's epoch) and whose `timeout(delay)` just hands the delay back; and
- the `SimServer` by `HttpServer`, which performs each request action with the calling
  Locust user's FastHttpSession (so it lands in Locust's statistics as ``register``,
  ``token`` or ``api:<route>``, a failure marked with its outcome) and answers as the
  simulated server would.

`LiveFleet` keeps the instances in a heap by due time. Any Locust user of the process
takes the earliest due instance, steps it until it waits again, and pushes it back: users
are concurrency, not instances, so a fleet of 100,000 instances needs only as many users as
requests in flight, and the load shape may add or remove users at any time.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.pool
from gevent.local import local

from dcrload.core.actions import CallApi, FetchToken, Register, RequestAction
from dcrload.core.lifecycle import jwt_claims
from dcrload.core.wire import Device, WireProfile, device_info_for, to_response
from dcrload.model.scenario import Scenario
from loadtests.replay import Member, ReplayContext, plan_fleet
from loadtests.timescale import DriverClock
from sim.instance import instance_process
from sim.server import Answer

API_OK = frozenset({200, 201, 204})
MAX_PAUSE = 0.05
"""Real seconds a user sleeps at most before it looks at the heap again."""

_local = local()


class LiveEnv:
    """Stands in for `simpy.Environment` in an instance process driven by the scheduler."""

    def __init__(self, clock: DriverClock) -> None:
        self.clock = clock
        self.now = 0.0

    def timeout(self, delay: float) -> float:
        return delay


def device_for(
    name: str, run_tag: str, platform: str, forward_for: bool, user_agent: str
) -> Device:
    """The wire identity of a simulated device: its own id, X-Device-Info and address."""
    device_id = f"{run_tag}-{name}"
    address = None
    if forward_for:
        if name.startswith("d") and name[1:].isdigit():
            n = int(name[1:]) + 1
            address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        else:  # shared-<cohort>: one address for the whole cohort, as in the simulation
            address = f"10.255.255.{int(name.rsplit('-', 1)[-1]) % 250 + 1}"
    return Device(device_id, device_info_for(device_id, platform), address, user_agent)


def _is_timeout(error: BaseException | None) -> bool:
    return (
        isinstance(error, TimeoutError | gevent.Timeout)
        or "timeout" in type(error).__name__.lower()
    )


def _error_code(body: Mapping[str, Any]) -> str:
    error = body.get("error") if isinstance(body, Mapping) else None
    if isinstance(error, Mapping):
        error = error.get("code")
    return str(error) if error else ""


@dataclass
class WarmCredentials:
    client_id: str
    client_secret: str
    access_token: str


class HttpServer:
    """Performs request actions over the current user's FastHttpSession; answers like
    `sim.server.SimServer` (status, body, headers, outcome, expired)."""

    def __init__(
        self,
        wire: WireProfile,
        statements: Mapping[str, str],
        clock: DriverClock,
        devices: Callable[[str], Device],
    ) -> None:
        self.wire = wire
        self.statements = dict(statements)
        self.clock = clock
        self.devices = devices
        self._device_cache: dict[str, Device] = {}
        self.ctx: LiveContext | None = None
        self.env: LiveEnv | None = None
        self.warm_clients: dict[str, tuple[str, str]] = {}
        self.warm_tokens: dict[str, str] = {}
        self.clients = 0
        self.tokens = 0

    def device(self, name: str) -> Device:
        found = self._device_cache.get(name)
        if found is None:
            found = self._device_cache[name] = self.devices(name)
        return found

    def wire_action(self, action: RequestAction) -> RequestAction:
        """What goes on the wire: real statements, and warm credentials for primed fakes."""
        if isinstance(action, Register):
            statement = self.statements.get(action.software_statement)
            if statement is not None:
                return Register(statement, action.software_id)
        elif isinstance(action, FetchToken):
            real = self.warm_clients.get(action.client_id)
            if real is not None:
                return FetchToken(*real)
        elif isinstance(action, CallApi):
            token = self.warm_tokens.get(action.access_token)
            if token is not None:
                return CallApi(action.route, token)
        return action

    def answer(self, action: RequestAction, device: str, now: float) -> Answer:
        """Send the request with the calling user's client; return the simulated answer."""
        client = _local.client
        ctx, env = self.ctx, self.env
        index = ctx.current if ctx is not None else -1
        wire = self.wire
        if isinstance(action, Register):
            name, ok = "register", wire.register_ok
        elif isinstance(action, FetchToken):
            name, ok = "token", wire.token_ok
        else:
            name, ok = f"api:{action.route}", API_OK
        request = wire.request(self.wire_action(action), self.device(device))
        answer = self._send(client, request, name, ok)
        if env is not None:
            env.now = self.clock.now()
        if ctx is not None:
            ctx.current = index
        if answer.status in ok:
            if name == "register":
                self.clients += 1
            elif name == "token":
                self.tokens += 1
                answer = dataclasses.replace(answer, body=self.exact_lifetime(answer.body))
        return answer

    def _send(self, client: Any, request: Any, name: str, ok: frozenset[int]) -> Answer:
        with client.request(
            request.method,
            request.path,
            name=name,
            data=request.body or None,
            headers=request.headers,
            catch_response=True,
        ) as resp:
            status = resp.status_code or 0
            if not status:
                error = getattr(resp, "error", None)
                outcome = "timeout" if _is_timeout(error) else "error"
                resp.failure(f"{outcome}: {type(error).__name__}")
                return Answer(0.0, 0, {}, {}, outcome)
            headers = resp.headers.items() if resp.headers is not None else ()
            response = to_response(status, headers, resp.content or b"")
            code = _error_code(response.body)
            if status in ok:
                resp.success()
            else:
                resp.failure(f"{status} {code}".strip())
        expired = status == 401 and code == "expired_access_token"
        return Answer(0.0, status, response.body, response.headers, str(status), expired)

    def exact_lifetime(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Undo the mock's whole-second rounding, which time compression would magnify.

        The mock floors `iat` to a whole second, so a token may live up to one real second
        less than `expires_in` says — at 240× that is four simulated minutes, more than a
        refresh lead. In a compressed run the lifetime is read as the time left until the
        token's `exp` claim (what the server enforces); at scale 1 the body is untouched.
        """
        if self.clock.scale == 1.0:
            return body
        exp = jwt_claims(str(body.get("access_token", ""))).get("exp")
        if not isinstance(exp, int | float) or not isinstance(body.get("expires_in"), int | float):
            return body
        left = max(0.0, float(exp) - self.clock.wall(self.clock.now()))
        return {**body, "expires_in": left}


class LiveContext(ReplayContext):
    """The fleet context of a replay: per-instance streams, HTTP server, scaled configs."""

    def __init__(
        self, env: LiveEnv, scenario: Scenario, seed: int, server: HttpServer, clock: DriverClock
    ) -> None:
        super().__init__(env, scenario, seed)
        self.server = server  # type: ignore[assignment]
        server.ctx = self
        server.env = env
        configs = getattr(self, "_configs", None)
        if not isinstance(configs, list):
            raise RuntimeError(
                "sim.fleet.FleetContext no longer keeps _configs; update LiveContext"
            )
        self._configs = [
            dataclasses.replace(c, time_scale=clock.scale, epoch=clock.epoch) for c in configs
        ]
        self.warm: dict[int, WarmCredentials] = {}
        self.warm_failed = 0

    def prime(self, inst: Any, plan: Any) -> None:
        """Prime as the simulation does (same draws), then map its placeholder credentials
        and token to the real ones the warm-up obtained for this instance."""
        scaled = inst.config
        # the simulation's placeholders are in simulated seconds: read them unscaled
        inst.config = dataclasses.replace(scaled, time_scale=1.0, epoch=0.0)
        try:
            super().prime(inst, plan)
        finally:
            inst.config = scaled
        real = self.warm.get(self.current)
        if real is None or inst.credentials is None or inst.token is None:
            return
        server: HttpServer = self.server  # type: ignore[assignment]
        server.warm_clients[inst.credentials.client_id] = (real.client_id, real.client_secret)
        server.warm_tokens[inst.token.value] = real.access_token


@dataclass
class Lateness:
    """How late steps ran against their due time (simulated seconds)."""

    steps: int = 0
    total: float = 0.0
    worst: float = 0.0

    def add(self, late: float) -> None:
        self.steps += 1
        self.total += late
        self.worst = max(self.worst, late)


@dataclass
class LiveFleet:
    """One process's share of the fleet, stepped by whichever Locust user is free."""

    scenario: Scenario
    clock: DriverClock
    wire: WireProfile
    statements: Mapping[str, str]
    worker_index: int = 0
    worker_count: int = 1
    forward_for: bool = True
    run_tag: str = "dcrload"
    seed: int | None = None
    heap: list[tuple[float, int, Any]] = field(default_factory=list)
    lateness: Lateness = field(default_factory=Lateness)
    members: list[Member] = field(default_factory=list)

    def __post_init__(self) -> None:
        scenario = self.scenario
        seed = scenario.scenario.seed if self.seed is None else self.seed
        platforms = [
            "AppleTV" if c.platform == "tv" else ("Server" if c.platform == "server" else "Android")
            for c in scenario.cohorts
        ]
        cohort_of: dict[str, int] = {}

        def devices(name: str) -> Device:
            return device_for(
                name,
                self.run_tag,
                platforms[cohort_of.get(name, 0)],
                self.forward_for,
                "dcrload-loadtest/0.1",
            )

        self.server = HttpServer(self.wire, self.statements, self.clock, devices)
        self.env = LiveEnv(self.clock)
        self.ctx = LiveContext(self.env, scenario, seed, self.server, self.clock)
        index, count = self.worker_index, max(1, self.worker_count)
        self.members = plan_fleet(self.ctx, bulk=False, keep=lambda i: i % count == index)
        for member in self.members:
            cohort_of[member.plan.device] = member.cohort
            process = instance_process(self.ctx, member.instance, member.plan)
            self.heap.append((member.plan.install_at, member.index, process))
        heapq.heapify(self.heap)
        self.in_flight = 0

    # ------------------------------------------------------------------ warm-up

    @property
    def warm_members(self) -> list[Member]:
        return [m for m in self.members if m.plan.warm]

    def warm_up(self, client: Any, concurrency: int = 16) -> None:
        """Get real credentials and a token for every warm instance, before driver time 0.

        The simulation primes a warm instance with placeholders; the replay primes it with
        the same draws and sends the placeholders' real counterparts on the wire. These
        requests appear in Locust's statistics as ``warmup:register`` / ``warmup:token``
        and are not counted in the run's time series.
        """
        members = self.warm_members
        if not members:
            return
        pool = gevent.pool.Pool(concurrency)
        for member in members:
            pool.spawn(self._warm_one, client, member)
        pool.join()

    def _warm_one(self, client: Any, member: Member) -> None:
        wire, device = self.wire, self.server.device(member.plan.device)
        software_id = member.instance.software_id
        statement = self.statements.get(software_id, software_id)
        register = self.server._send(
            client,
            wire.request(Register(statement, software_id), device),
            "warmup:register",
            wire.register_ok,
        )
        if register.status not in wire.register_ok:
            self.ctx.warm_failed += 1
            return
        client_id = str(register.body.get("client_id", ""))
        secret = str(register.body.get("client_secret", ""))
        token = self.server._send(
            client,
            wire.request(FetchToken(client_id, secret), device),
            "warmup:token",
            wire.token_ok,
        )
        if token.status not in wire.token_ok:
            self.ctx.warm_failed += 1
            return
        self.ctx.warm[member.index] = WarmCredentials(
            client_id, secret, str(token.body.get("access_token", ""))
        )

    # ------------------------------------------------------------------ stepping

    @property
    def finished(self) -> bool:
        """Every instance is done (uninstalled, or the run's duration is over)."""
        return not self.heap and not self.in_flight

    def pause(self) -> float:
        """Real seconds until the earliest instance is due (at most MAX_PAUSE)."""
        if not self.heap:
            return MAX_PAUSE
        gap = (self.heap[0][0] - self.clock.now()) / self.clock.scale
        return min(max(gap, 0.0), MAX_PAUSE)

    def step(self, client: Any) -> bool:
        """Step the earliest due instance with `client` until it waits again.

        Returns False when nothing was due. The instance is out of the heap while its
        request is in flight, so no other user can step it at the same time.
        """
        heap = self.heap
        if not heap:
            return False
        now = self.clock.now()
        due, index, process = heap[0]
        if due > now:
            return False
        heapq.heappop(heap)
        self.lateness.add(now - due)
        _local.client = client
        env, ctx = self.env, self.ctx
        env.now = now
        self.in_flight += 1
        try:
            while True:
                ctx.current = index
                try:
                    delay = process.send(None)
                except StopIteration:
                    return True
                finally:
                    ctx.current = -1
                if delay > 0:
                    heapq.heappush(heap, (env.now + delay, index, process))
                    return True
                env.now = self.clock.now()
        finally:
            self.in_flight -= 1

    # ------------------------------------------------------------------ results

    def snapshot(self) -> dict[str, Any]:
        """What this process counted, as plain JSON (merged by `merge_snapshots`)."""
        ctx = self.ctx
        blocked = ctx.blocked
        now = min(self.clock.now(), ctx.duration)
        level_area = list(blocked.area)
        # the blocked gauge integrates lazily: add the open stretch up to now
        if blocked.level:
            t = blocked._since
            while t < now:
                i = min(blocked.bins - 1, int(t // blocked.bin_width))
                end = min(now, (i + 1) * blocked.bin_width)
                level_area[i] += blocked.level * (end - t)
                t = end
        members = self.members
        return {
            "worker_index": self.worker_index,
            "worker_count": self.worker_count,
            "instances": len(members),
            "installs": sum(1 for m in members if m.plan.install_at > 0),
            "cold_instances": sum(1 for m in members if m.plan.install_at == 0 and not m.plan.warm),
            "warm": len(ctx.warm),
            "warm_failed": ctx.warm_failed,
            "series": [[e, o, list(row)] for e, o, row in ctx.counters.items()],
            "blocked_area": level_area,
            "blocked_peak": blocked.peak,
            "reauthentications": list(ctx.reauthentications.per_bin),
            "expired_calls": list(ctx.expired_calls.per_bin),
            "losses": ctx.losses,
            "updates": ctx.updates,
            "api_wanted": ctx.api_wanted,
            "failed_api_calls": sum(
                (e[1] if isinstance(e, tuple) else e).failed_api_calls for e in ctx.instances
            ),
            "clients_registered": self.server.clients,
            "tokens_issued": self.server.tokens,
            "events": ctx.events,
            "late_steps": self.lateness.steps,
            "late_total": self.lateness.total,
            "late_worst": self.lateness.worst,
            "cohorts": ctx.cohort_summary() if hasattr(ctx, "cohort_summary") else {},
        }


def merge_snapshots(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the snapshots of several processes (peaks add up too: an upper bound)."""
    merged: dict[str, Any] = {"workers": len(snapshots)}
    series: dict[tuple[str, str], list[int]] = {}
    for snap in snapshots:
        for key, value in snap.items():
            if key == "series":
                for endpoint, outcome, row in value:
                    acc = series.setdefault((endpoint, outcome), [0] * len(row))
                    for i, n in enumerate(row):
                        acc[i] += n
            elif key in ("blocked_area", "reauthentications", "expired_calls"):
                acc = merged.setdefault(key, [0] * len(value))
                for i, n in enumerate(value):
                    acc[i] += n
            elif key == "late_worst":
                merged[key] = max(merged.get(key, 0.0), value)
            elif key == "cohorts":
                cohorts = merged.setdefault("cohorts", {})
                for name, counts in value.items():
                    acc = cohorts.setdefault(name, {})
                    for what, n in counts.items():
                        acc[what] = acc.get(what, 0) + n
            elif key in ("worker_index", "worker_count"):
                continue
            elif isinstance(value, int | float):
                merged[key] = merged.get(key, 0) + value
    merged["series"] = [[e, o, row] for (e, o), row in sorted(series.items())]
    if not math.isfinite(merged.get("late_worst", 0.0)):
        merged["late_worst"] = 0.0
    return merged
