"""The Locust driver: agents stepped from a due-time heap, each request on the user's client.

Each load-generating process (the local runner, or one worker) plays the instances whose
index ≡ its worker index (mod the worker count), so no two workers ever play the same
instance; with per-instance streams (`dcrload.core.streams`) it draws only their plans.
Every instance is a `dcrload.model.agent.Agent` — the very agent the simulation runs — and
this module is its third driver:

- `Sleep(until)` puts the agent in the heap at `until` (driver time: simulated seconds on
  the `DriverClock`);
- `Send(action)` becomes an HTTP request on the client of the Locust user that is stepping
  the agent, so it lands in Locust's statistics as ``register``, ``token`` or
  ``api:<route>``, a non-2xx answer marked failed with its status and error code.

Any user of the process takes the earliest due agent, steps it until it sleeps again, and
pushes it back: users are concurrency, not instances. Agents never ask for bulk runs here —
every API call is a request. No Locust or gevent import: the client is anything with
FastHttpSession's `request(..., catch_response=True)` context manager (a test uses a fake).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dcrload.core.actions import CallApi, Failure, FetchToken, Register, RequestAction, Response
from dcrload.core.lifecycle import jwt_claims, succeeded
from dcrload.core.semantics import error_code, error_description
from dcrload.core.wire import Device, WireProfile, device_info_for, to_response
from dcrload.model.agent import Agent, Sleep
from dcrload.model.counts import RunCounts
from dcrload.model.plans import FleetModel, fleet_plans, install_schedule
from dcrload.model.scenario import Scenario
from loadtests.timescale import DriverClock

MAX_PAUSE = 0.05
"""Real seconds a user sleeps at most before it looks at the heap again."""
PLATFORM_INFO = {"tv": "AppleTV", "server": "Server", "mobile": "Android"}


def device_for(index: int, shared: str | None, run_tag: str, platform: str,
               forward_for: bool, user_agent: str) -> Device:  # fmt: skip
    """The wire identity of a simulated device: its own id, X-Device-Info and address.

    Instances behind a proxy that drops `X-Forwarded-For` (`shared`, a cohort's name) share
    one address, as they share one throttle bucket in the simulation.
    """
    name = shared or f"d{index}"
    device_id = f"{run_tag}-{name}"
    address = None
    if forward_for:
        if shared is None:
            n = index + 1
            address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
        else:
            address = f"10.255.255.{int(shared.rsplit('-', 1)[-1]) % 250 + 1}"
    return Device(device_id, device_info_for(device_id, platform), address, user_agent)


def is_timeout(error: BaseException | None) -> bool:
    return error is not None and (
        isinstance(error, TimeoutError) or "timeout" in type(error).__name__.lower()
    )


@dataclass
class Lateness:
    """How late steps ran against their due time (simulated seconds); `over` counts the
    steps later than `allowed`, which the verdict holds against the check's tolerance."""

    allowed: float = 0.0
    steps: int = 0
    total: float = 0.0
    worst: float = 0.0
    over: int = 0

    def add(self, late: float) -> None:
        self.steps += 1
        self.total += late
        self.worst = max(self.worst, late)
        if late > self.allowed:
            self.over += 1


@dataclass(frozen=True, slots=True)
class WarmCredentials:
    """What the warm-up obtained for one warm instance, in place of the model's placeholders."""

    client_id: str
    client_secret: str
    access_token: str


class Playing:
    """One agent in play: its generator and what to send it when it is stepped next."""

    __slots__ = ("agent", "device", "done", "life", "reply")

    def __init__(self, agent: Agent, device: Device) -> None:
        self.agent = agent
        self.device = device
        self.life = agent.life()
        self.reply: Response | Failure | None = None
        self.done = False


class LocustDriver:
    """One process's share of the fleet, stepped by whichever Locust user is free."""

    def __init__(
        self,
        scenario: Scenario,
        clock: DriverClock,
        wire: WireProfile,
        statements: Mapping[str, str],
        *,
        seed: int | None = None,
        worker_index: int = 0,
        worker_count: int = 1,
        forward_for: bool = True,
        run_tag: str = "dcrload",
        user_agent: str = "dcrload-loadtest/0.1",
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        self.wire = wire
        self.statements = dict(statements)
        self.seed = scenario.scenario.seed if seed is None else seed
        self.worker_index, self.worker_count = worker_index, max(1, worker_count)
        model = FleetModel(scenario, self.seed, time_scale=clock.scale, epoch=clock.epoch)
        model.bulk = False
        self.model = model
        info = scenario.scenario
        self.counts = RunCounts(info.duration, info.bin, len(scenario.cohorts))
        installs = install_schedule(model)
        total = scenario.fleet.instances + len(installs)
        keep = range(self.worker_index, total, self.worker_count)
        self.heap: list[tuple[float, int, Playing]] = []
        self.playing: list[Playing] = []
        for plan in fleet_plans(model, installs, keep):
            cohort = scenario.cohorts[plan.cohort]
            shared = plan.device if plan.device.startswith("shared-") else None
            device = device_for(plan.index, shared, run_tag, PLATFORM_INFO[cohort.platform],
                                forward_for, user_agent)  # fmt: skip
            playing = Playing(Agent(model, plan, self.counts, clock.now, bulk=False), device)
            self.playing.append(playing)
            self.heap.append((plan.install_at, plan.index, playing))
        heapq.heapify(self.heap)
        self.warm: dict[int, WarmCredentials] = {}
        self.warm_failed = 0
        self.warm_errors: dict[str, int] = {}
        self.in_flight = 0
        self.lateness = Lateness(allowed=info.bin * scenario.loadtest.tolerance)
        self.errors: dict[str, str] = {}
        """The first error answer per endpoint and status ("api 404" → "not_found: ...")."""
        self.clients = 0
        self.tokens = 0
        self.events = 0
        self.installs = len(installs)

    # ------------------------------------------------------------------ requests

    def perform(self, client: Any, action: RequestAction, playing: Playing,
                name: str | None = None) -> Response | Failure:  # fmt: skip
        """Send one request with `client` (what the wire gets: real statements and, for a
        warm instance, the credentials and token its warm-up obtained)."""
        if isinstance(action, CallApi) and not self.wire.sends_api:
            return Response(200)  # api = none: the lifecycle uses its token, nothing is sent
        index = playing.agent.plan.index
        wired = self._wired(action, index)
        if isinstance(action, Register):
            label = "register"
        elif isinstance(action, FetchToken):
            label = "token"
        else:
            label = f"api:{action.route}"
        request = self.wire.request(wired, playing.device)
        reply = send(client, request, name or label)
        self._note_error(label.split(":")[0], reply)
        if isinstance(reply, Response) and succeeded(reply.status):
            if label == "register":
                self.clients += 1
            elif label == "token":
                self.tokens += 1
                reply = Response(reply.status, self.exact_lifetime(reply.body), reply.headers)
        return reply

    def _note_error(self, endpoint: str, reply: Response | Failure) -> None:
        if isinstance(reply, Failure):
            key, text = f"{endpoint} {reply.kind}", "no answer"
        elif succeeded(reply.status):
            return
        else:
            key, text = f"{endpoint} {reply.status}", describe_error(reply.body)
        self.errors.setdefault(key, text)

    def _wired(self, action: RequestAction, index: int) -> RequestAction:
        if isinstance(action, Register):
            statement = self.statements.get(action.software_statement)
            return Register(statement, action.software_id) if statement else action
        warm = self.warm.get(index)
        marker = f"|w{index}"
        if warm is None:
            return action
        if isinstance(action, FetchToken) and action.client_id.endswith(marker):
            return FetchToken(warm.client_id, warm.client_secret)
        if isinstance(action, CallApi) and action.access_token.endswith(marker):
            return CallApi(action.route, warm.access_token)
        return action

    def exact_lifetime(self, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """Undo the mock's whole-second rounding, which time compression would magnify.

        A server floors `iat` to a whole second, so a token may live up to one real second
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

    # ------------------------------------------------------------------ warm-up

    @property
    def warm_members(self) -> list[Playing]:
        return [p for p in self.playing if p.agent.plan.warm]

    def warm_one(self, client: Any, playing: Playing) -> None:
        """Get real credentials and a token for one warm instance, before driver time 0.

        The model primes a warm instance with placeholders; the driver sends their real
        counterparts on the wire. These requests appear in Locust's statistics as
        ``warmup:register`` / ``warmup:token`` and are not counted in the run's series.
        """
        agent = playing.agent
        software_id = agent.lifecycle.software_id
        statement = self.statements.get(software_id, software_id)
        register = send(
            client,
            self.wire.request(Register(statement, software_id), playing.device),
            "warmup:register",
        )
        if not (isinstance(register, Response) and succeeded(register.status)):
            self._warm_failure("register", register)
            return
        client_id = str(register.body.get("client_id", ""))
        secret = str(register.body.get("client_secret", ""))
        token = send(
            client,
            self.wire.request(FetchToken(client_id, secret), playing.device),
            "warmup:token",
        )
        if not (isinstance(token, Response) and succeeded(token.status)):
            self._warm_failure("token", token)
            return
        access = str(token.body.get("access_token", ""))
        self.warm[agent.plan.index] = WarmCredentials(client_id, secret, access)

    def _warm_failure(self, endpoint: str, reply: Response | Failure) -> None:
        self.warm_failed += 1
        self._note_error(f"warm-up {endpoint}", reply)
        if isinstance(reply, Response):
            label = f"{endpoint} {reply.status} {error_code(reply.body)}".strip()
        else:
            label = f"{endpoint} {reply.kind}"
        self.warm_errors[label] = self.warm_errors.get(label, 0) + 1

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
        """Step the earliest due agent with `client` until it sleeps again.

        Returns False when nothing was due. The agent is out of the heap while its request
        is in flight, so no other user can step it at the same time.
        """
        heap = self.heap
        if not heap:
            return False
        now = self.clock.now()
        due, index, playing = heap[0]
        if due > now:
            return False
        heapq.heappop(heap)
        self.lateness.add(max(0.0, now - due))
        self.in_flight += 1
        try:
            while True:
                try:
                    command = playing.life.send(playing.reply)
                except StopIteration:
                    playing.done = True
                    return True
                self.events += 1
                playing.reply = None
                if type(command) is Sleep:
                    heapq.heappush(heap, (command.until, index, playing))
                    return True
                playing.reply = self.perform(client, command.action, playing)
        finally:
            self.in_flight -= 1

    # ------------------------------------------------------------------ results

    def snapshot(self) -> dict[str, Any]:
        """What this process counted, as plain JSON (merged with `merge_snapshots`)."""
        plans = [p.agent.plan for p in self.playing]
        counts = self.counts.to_json()
        if not self.wire.sends_api:  # nothing was sent: no API counts to compare
            counts["series"] = [row for row in counts["series"] if row[0] != "api"]
        for playing in self.playing:  # agents still playing report their failed calls at the end
            if not playing.done and playing.agent.plan.install_at <= self.clock.now():
                failed = playing.agent.lifecycle.failed_api_calls
                counts["failed_api_calls"] += failed
                counts["by_cohort"][playing.agent.plan.cohort]["failed_api_calls"] += failed
        return {
            "counts": counts,
            "instances": len(plans),
            "installs": sum(1 for p in plans if p.install_at > 0),
            "cold_instances": sum(1 for p in plans if p.install_at == 0 and not p.warm),
            "warm": len(self.warm),
            "warm_failed": self.warm_failed,
            "warm_errors": dict(self.warm_errors),
            "clients_registered": self.clients,
            "tokens_issued": self.tokens,
            "events": self.events,
            "late_steps": self.lateness.steps,
            "late_total": self.lateness.total,
            "late_worst": self.lateness.worst,
            "late_over": self.lateness.over,
            "errors": dict(self.errors),
        }


def describe_error(body: Any) -> str:
    """An error answer's `error` and `error_description` (or REST API V2's message)."""
    parts = (error_code(body), error_description(body))
    return ": ".join(part for part in parts if part) or "(no error body)"


def send(client: Any, request: Any, name: str) -> Response | Failure:
    """Perform one wire request with a FastHttpSession-like client; mark it in its stats."""
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
            kind = "timeout" if is_timeout(error) else "connection"
            resp.failure(f"{kind}: {type(error).__name__}")
            return Failure(kind)
        headers = resp.headers.items() if resp.headers is not None else ()
        response = to_response(status, headers, resp.content or b"")
        if succeeded(status):
            resp.success()
        else:
            resp.failure(f"{status} {error_code(response.body)}".strip())
        return response


def merge_snapshots(scenario: Scenario, snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    """Add up the snapshots of several processes (counts exactly, the worst lateness as max)."""
    info = scenario.scenario
    counts = RunCounts(info.duration, info.bin, len(scenario.cohorts))
    merged: dict[str, Any] = {"workers": len(snapshots), "warm_errors": {}}
    for snap in snapshots:
        counts.merge(snap.get("counts", {}))
        for key, value in snap.items():
            if key == "late_worst":
                merged[key] = max(merged.get(key, 0.0), value)
            elif key == "warm_errors":
                for label, n in value.items():
                    merged["warm_errors"][label] = merged["warm_errors"].get(label, 0) + n
            elif key == "errors":
                for label, text in value.items():
                    merged.setdefault("errors", {}).setdefault(label, text)
            elif key != "counts" and isinstance(value, int | float):
                merged[key] = merged.get(key, 0) + value
    if not math.isfinite(merged.get("late_worst", 0.0)):
        merged["late_worst"] = 0.0
    merged["counts"] = counts.to_json()
    return merged
