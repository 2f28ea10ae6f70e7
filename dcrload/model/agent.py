"""One app instance's life, written once: usage and device faults around the lifecycle.

`Agent.life()` is a generator, in the manner of httpx's `Auth.auth_flow`: it yields what it
wants done and receives what came of it, and every driver is a short loop around it:

    command = agent.send(None)
    Sleep(until)         → resume it (send None) when driver time reaches `until`
    Send(action)         → perform the request; send back a `Response` or `Failure`
    Send(action, n, dt)  → n API calls dt apart (bulk): send back a `Burst`
    Send(..., at=t)      → only to a driver that asked for `renew=True` (the run to
                           completion): move to `t` first; such an agent yields no Sleep
                           and sends background timer renewals one Send each

The agent owns *usage* — when sessions start and end, when an API call is due, when the
device loses its storage or installs an update — and asks `dcrload.core.lifecycle.AppInstance`
for every *decision*. It reports what happened to a `RunCounts` (requests by endpoint and
outcome at the time they were sent, re-authentications, expired-token calls, blocked time),
so every driver counts the same way. Time comes from the `clock` the driver hands in.

It asks for an event only where something is decided: a session start, a request, a timer
the lifecycle wants, a fault. API calls the lifecycle would send straight out on its cached
token are asked for as one `Send` of n calls when the driver allows bulk: the driver answers
how many succeeded, and the lifecycle is told in one call (`api_calls_succeeded`). A
session's end is not an event of its own when nothing is decided there: the app goes to the
background, with the session's end time, when the agent next wakes. Nothing here imports a
driver library (simpy, locust, gevent, httpx); a test enforces it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import cast

from dcrload.core.actions import (
    ApiCallDue,
    AppBackgrounded,
    AppLaunched,
    AppUpdated,
    Blocked,
    CallApi,
    CredentialsLost,
    Failure,
    FetchToken,
    Reauthenticate,
    Reauthenticated,
    Register,
    RequestAction,
    Response,
    Wait,
)
from dcrload.core.errors import LifecycleError
from dcrload.core.lifecycle import AppInstance, expired_token
from dcrload.core.streams import LazyStream, Rng
from dcrload.model.counts import RunCounts
from dcrload.model.plans import FleetModel, Plan, adoption_time, own_cycle

SPIN_LIMIT = 10_000
"""Decisions at one instant before the agent calls it a bug (a lifecycle that never waits)."""

ENDPOINT: dict[type, str] = {Register: "register", FetchToken: "token", CallApi: "api"}
# the events the agent feeds, one shared value each (they are immutable and carry nothing)
LAUNCHED, BACKGROUNDED, DUE = AppLaunched(), AppBackgrounded(), ApiCallDue()
LOST, REAUTHENTICATED = CredentialsLost(), Reauthenticated()


@dataclass(frozen=True, slots=True)
class Sleep:
    """Resume me when driver time reaches `until`."""

    until: float


@dataclass(frozen=True, slots=True)
class Send:
    """Perform `action`; with `repeat` > 1, `repeat` API calls `every` seconds apart, stopping
    at the first that is not answered 2xx (answer with a `Burst`)."""

    action: RequestAction
    repeat: int = 1
    every: float = 0.0
    at: float | None = None
    """Send at driver time `at` (sleep until then first); only from an agent built with
    `renew=True`, for a driver that honours it (the run-to-completion driver)."""


@dataclass(frozen=True, slots=True)
class Burst:
    """How a repeated `Send` went: the first `succeeded` calls were answered 2xx; if that is
    fewer than asked, call number `succeeded` (0-based) got `last`, and the agent resumes
    when that answer arrives."""

    succeeded: int
    last: Response | Failure | None = None


Command = Sleep | Send
_REPLIES = (Response, Failure)
Answer = Response | Failure | Burst | None


def outcome_of(answer: Response | Failure) -> str:
    """How a request is counted: its status ("201", "429", ...) or the failure's kind."""
    if isinstance(answer, Response):
        status = answer.status
        return _STATUS.get(status) or str(status)
    return answer.kind


_STATUS = {status: str(status) for status in (200, 201, 400, 401, 403, 429, 500, 503)}


class Agent:
    """One instance of the fleet: its plan, its lifecycle and its streams."""

    __slots__ = (
        "api_rng",
        "bulk",
        "clock",
        "counts",
        "lifecycle",
        "losses",
        "model",
        "plan",
        "renew",
        "rollout",
        "server_rng",
        "spread_start",
    )

    def __init__(
        self,
        model: FleetModel,
        plan: Plan,
        counts: RunCounts,
        clock: Callable[[], float],
        *,
        bulk: bool = True,
        renew: bool = False,
    ) -> None:
        self.model = model
        self.plan = plan
        self.counts = counts
        self.clock = clock
        self.bulk = bulk and plan.bulk and model.bulk
        self.renew = renew and model.bulk
        """Background timer renewals in one `Send(at=...)` each, no `Sleep` between (see
        `_renewals`); stepping (`model.bulk` False) keeps every event."""
        cohort = model.scenario.cohorts[plan.cohort]
        software_id = model.software_id_at_install(cohort, plan.install_at)
        index = plan.index
        self.lifecycle = AppInstance(
            model.configs[plan.cohort],
            software_statement=software_id,
            software_id=software_id,
            clock=model.clock(model.stream(index, "clock")),
            rng=model.stream(index, "refresh"),
            retry_rng=cast(Rng, LazyStream(model.key, index, "retry")),  # rarely drawn from
        )
        self.losses = model.stream(index, "losses")
        self.rollout: Rng | None = None
        self.server_rng = model.stream(index, "server")
        """The server's draws for this instance's requests (service times, TTL jitter)."""
        usage = model.scenario.usage
        spread = plan.warm and plan.always_on
        self.spread_start = spread and model.scenario.fleet.warm_spread
        """A warm always-on instance's first API call falls at a random point of the first
        interval (`fleet.warm_spread`)."""
        self.api_rng = model.stream(index, "api") if usage.api_jitter or spread else None
        if usage.api_jitter:
            self.bulk = False  # a burst is n calls at one fixed gap

    def api_gap(self) -> float:
        """The gap to the next API call: the interval, jittered by `usage.api_jitter`."""
        interval, jitter = self.model.api_interval, self.model.scenario.usage.api_jitter
        if not jitter or self.api_rng is None:
            return interval
        return interval * (1.0 + self.api_rng.uniform(-jitter, jitter))

    # ------------------------------------------------------------------ draws

    def next_loss(self, now: float) -> float:
        rate = self.model.loss_rate
        return now + self.losses.expovariate(rate) if rate > 0 else math.inf

    def update_time(self) -> float:
        """When this instance installs the update replacing its statement (inf: never)."""
        rollout = self.model.rollouts.get(self.lifecycle.software_id)
        if rollout is None:
            return math.inf
        self.rollout = self.model.stream(self.plan.index, "rollout")  # only where it is drawn
        return max(self.plan.install_at, adoption_time(rollout, self.rollout.random()))

    def prime(self) -> None:
        """A warm instance starts with the credentials and the token it got before the run:
        a token of random age, below the cohort's steady-state cycle (placeholders the
        Locust driver maps to the real ones its warm-up obtained)."""
        model, plan, inst = self.model, self.plan, self.lifecycle
        cycle = own_cycle(inst.config, inst.clock, model.ttl, model.cycles[plan.cohort])
        issued = -plan.usage.uniform(0.0, cycle)
        sid = inst.software_id
        self.lifecycle.restore(f"{sid}|w{plan.index}", "secret", issued, model.ttl)

    # ------------------------------------------------------------------ the life

    def life(self) -> Generator[Command, Answer, None]:
        """Run the instance from install to uninstall (or the end of the run)."""
        model, plan, inst, counts = self.model, self.plan, self.lifecycle, self.counts
        cohort, now_of = plan.cohort, self.clock
        interval = model.api_interval
        usage = plan.usage
        if plan.install_at > now_of():
            yield Sleep(plan.install_at)
        counts.joined(cohort)
        if plan.warm:
            self.prime()
        end_at = min(plan.uninstall_at, model.duration)
        session_start = plan.first_launch
        session_end = -math.inf
        session_after: float | None = None  # the next session, when drawn before this one ends
        in_session = False
        background_timers = inst.background_timers
        renew = self.renew
        until = math.inf
        next_api = math.inf
        now = now_of()
        next_loss = self.next_loss(now)
        next_update = self.update_time()
        blocked = False
        last_now, spins = -1.0, 0
        ahead = -math.inf  # with `renew`: the time slept until, without a Sleep to the driver
        at: float | None = None  # when the next request goes out (Send.at), with `renew`

        while True:
            if ahead >= 0.0:
                now, ahead = ahead, -math.inf
            else:
                now = now_of()
            at = now if renew else None
            if now >= end_at:
                break
            if now == last_now:
                spins += 1
                if spins > SPIN_LIMIT:
                    raise LifecycleError(
                        f"instance {plan.index} made {spins} decisions at t={now} without time"
                        f" passing; last action {inst.next_action(now)!r}"
                    )
            else:
                last_now, spins = now, 0
            # ---- usage and faults due now
            if in_session and now >= session_end:
                inst.handle(BACKGROUNDED, session_end)
                in_session, next_api = False, math.inf
                if session_after is None:
                    session_after = model.diurnal.next_start(session_end, usage)
                session_start, session_after = session_after, None
            if not in_session and now >= session_start:
                inst.handle(LAUNCHED, now)
                in_session = True
                session_end = (
                    math.inf if plan.always_on else now + model.session_length.sample(usage)
                )
                next_api = now
                if now == 0.0 and self.api_rng is not None and self.spread_start:
                    next_api = self.api_rng.uniform(0.0, interval)  # not all in second 0
            if now >= next_loss:  # counted when there was something to lose
                counts.losses += inst.credentials is not None
                inst.handle(LOST, now)
                next_loss = self.next_loss(now)
            if now >= next_update:
                replacement = model.rollouts[inst.software_id].software_id
                next_update = math.inf
                inst.handle(AppUpdated(replacement, replacement), now)
                counts.updates += 1
            if in_session and now >= next_api and inst.awaiting is None:
                counts.api_wanted += 1
                if self.bulk:
                    next_api = now + interval
                    limit = min(inst.usable_until(now), session_end, next_loss, next_update, end_at)
                    if limit > now + interval and not blocked:
                        # the calls go straight out on the cached token: sent as one burst,
                        # reported in one go (no due event, no decision, no answer to feed)
                        burst = math.ceil((limit - now) / interval - 1e-12)
                        call = inst.straight_call(DUE.route, now)
                        if call is None:
                            raise LifecycleError(f"usable until {limit} but no call at {now}")
                        reply = yield Send(call, burst, interval, at)
                        if not isinstance(reply, Burst):
                            raise LifecycleError(f"{reply!r} does not answer a burst")
                        next_api = self._burst(reply, now, burst)
                        continue
                else:
                    next_api = now + self.api_gap()
                inst.handle(DUE, now)

            # ---- the lifecycle's decision
            action = inst.next_action(now)
            if type(action) is Blocked:
                if not blocked:
                    blocked = True
                    counts.blocked.start(now)
                wake = min(next_update, next_loss, end_at)
            else:
                if blocked:
                    blocked = False
                    counts.blocked.end(now)
                if type(action) is Reauthenticate:
                    counts.reauthenticated(now, cohort)
                    inst.handle(REAUTHENTICATED, now)
                    continue
                if type(action) is not Wait:  # a request: not Blocked nor Reauthenticate
                    request = cast(RequestAction, action)
                    reply = yield Send(request, 1, 0.0, at)
                    if not isinstance(reply, _REPLIES):
                        raise LifecycleError(f"{reply!r} does not answer {action!r}")
                    self._answered(request, reply, now)
                    continue
                until = action.until
                if not in_session:
                    usage_due = session_start
                elif next_api < session_end or until < session_end:
                    usage_due = min(session_end, next_api)
                else:
                    # Nothing is decided at the session's end: the app goes to the
                    # background (with its own time) when the agent next wakes, and the
                    # next decision is a background timer, the next session or a fault.
                    if session_after is None:
                        session_after = model.diurnal.next_start(session_end, usage)
                    usage_due = session_after
                    if not background_timers:
                        until = math.inf
                wake = min(until, usage_due, next_loss, next_update, end_at)
            if wake >= end_at:
                break
            if (
                renew
                and type(action) is Wait
                and not in_session
                and wake == until
                and wake < session_start
                and wake < next_loss
                and wake < next_update
                and inst.renewal_due(wake)
            ):
                # Background renewals on the timer, each one Send: the stepped loop would
                # wake at `wake` with nothing else due and ask next_action for this request.
                limit = min(session_start, next_loss, next_update, end_at)
                wake, last_now, asleep = yield from self._renewals(wake, limit)
                spins = 0
                if not asleep:
                    continue  # back at the top of the loop, at the driver's time
                if wake >= end_at:
                    break
            if renew:  # the driver honours Send.at: no Sleep, decide at `wake` now
                ahead = wake
                continue
            yield Sleep(wake)

        if blocked:
            counts.blocked.end(end_at)
        counts.left(cohort, inst.failed_api_calls)

    def _renewals(
        self, first: float, limit: float
    ) -> Generator[Command, Answer, tuple[float, float, bool]]:
        """Renew the token on the background timer from `first` while nothing else can
        happen before `limit` (a session, a loss, an update, the end): per renewal one
        `Send(FetchToken, at=t)`, the answer fed as the loop feeds it, the next timer read
        from `AppInstance.renewal_wait` — the `Sleep`, the two wake-ups and the second
        decision of a stepped renewal are skipped, nothing else.

        Returns (wake-up, when it was decided, True) for the loop to sleep until then, or
        (-, when the last request went out, False) for it to go on at the driver's time:
        the answer arrived at or after `limit`, or left the plain state (an error, a retry,
        a revocation, a timeout). The second item is the loop's `last_now` (spin check).
        """
        inst, now_of = self.lifecycle, self.clock
        t = first
        while True:
            action = inst.next_action(t)
            if type(action) is not FetchToken:  # renewal_due promised it
                raise LifecycleError(f"a due renewal became {action!r}")
            reply = yield Send(action, at=t)
            if not isinstance(reply, _REPLIES):
                raise LifecycleError(f"{reply!r} does not answer {action!r}")
            self._answered(action, reply, t)
            now = now_of()
            if now >= limit or now == t:
                return t, t, False
            until = inst.renewal_wait(now)
            if until is None:
                return t, t, False
            if until >= limit or not inst.renewal_due(until):
                return (until if until < limit else limit), now, True
            t = until

    def _answered(self, action: RequestAction, reply: Response | Failure, sent: float) -> None:
        """Feed one answer to the lifecycle and count the request at the time it was sent."""
        endpoint = ENDPOINT[type(action)]
        self.counts.request(endpoint, outcome_of(reply), sent, self.plan.cohort)
        if (
            endpoint == "api"
            and isinstance(reply, Response)
            and reply.status == 401
            and expired_token(reply.status, reply.body)
        ):
            self.counts.expired(sent, self.plan.cohort)
        self.lifecycle.handle(reply, self.clock())

    def _burst(self, reply: Burst, first: float, asked: int) -> float:
        """Report a burst of straight calls (`AppInstance.straight_call`) to the lifecycle;
        return when the next API call is due. The calls that succeeded are reported in one
        go; the one that did not is stepped as it would have been: due, started, answered."""
        inst, counts, interval = self.lifecycle, self.counts, self.model.api_interval
        ok = reply.succeeded
        if ok > 0:
            inst.api_calls_succeeded(ok, first)
            counts.series("api", "200", first, interval, ok, self.plan.cohort)
            counts.api_wanted += ok - 1
        if ok >= asked or reply.last is None:
            return first + asked * interval
        sent = first + ok * interval
        if ok > 0:
            counts.api_wanted += 1
        inst.handle(DUE, sent)
        again = inst.next_action(sent)
        if not isinstance(again, CallApi):
            raise LifecycleError(f"call {ok} of a burst became {again!r}")
        self._answered(again, reply.last, sent)
        return sent + interval
