"""One app instance as a SimPy process: ask the lifecycle, perform, feed the outcome back.

The process owns the instance's *usage* (when sessions start and end, when an API call is
due, when faults strike) and nothing of its *decisions*, which all come from
`dcrload.core.lifecycle.AppInstance`. An event is scheduled only where something is decided:
session starts and ends, requests to the DCR endpoints, timers the lifecycle asks for,
faults. API calls that go out on a token the lifecycle and the server both accept are
counted in bulk up to the next point where either could change its mind; the count stays
exact because neither changes state in between.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dcrload.core.actions import (
    ApiCallDue,
    AppBackgrounded,
    AppLaunched,
    AppUpdated,
    Blocked,
    CallApi,
    CredentialsLost,
    Failure,
    Reauthenticate,
    Reauthenticated,
    Register,
    Response,
    Wait,
)
from dcrload.core.lifecycle import AppInstance

if TYPE_CHECKING:
    from sim.fleet import FleetContext

ENDPOINT = {Register: "register", CallApi: "api"}
SPIN_LIMIT = 10_000
"""Decisions at one instant before the driver calls it a bug (a lifecycle that never waits)."""


@dataclass(slots=True)
class Plan:
    """The life of one instance, drawn before it starts."""

    install_at: float
    uninstall_at: float
    warm: bool
    first_launch: float
    always_on: bool
    device: str
    cohort: int
    """Index of the instance's cohort in the scenario."""
    bulk: bool
    """Whether API calls may be counted in bulk (no shared or tight throttle bucket)."""


def endpoint_of(action: Any) -> str:
    return ENDPOINT.get(type(action), "token")


def instance_process(ctx: FleetContext, inst: AppInstance, plan: Plan) -> Generator[Any, Any, None]:
    """Run one instance from install to uninstall (or the end of the run)."""
    env, server, counters = ctx.env, ctx.server, ctx.counters
    interval = ctx.scenario.usage.api_interval
    if plan.install_at > env.now:
        yield env.timeout(plan.install_at - env.now)
    if plan.warm:
        ctx.prime(inst, plan)
    end_at = min(plan.uninstall_at, ctx.duration)
    session_start = plan.first_launch
    session_end = -math.inf
    session_after: float | None = None  # the next session, when drawn before this one ends
    in_session = False
    timers_in_background = inst.config.platform != "mobile"
    next_api = math.inf
    next_loss = ctx.next_loss(env.now)
    next_update = ctx.update_time(inst, plan)
    blocked_since: float | None = None
    last_now, spins = -1.0, 0

    while True:
        now = env.now
        if now >= end_at:
            break
        if now == last_now:
            spins += 1
            if spins > SPIN_LIMIT:
                raise RuntimeError(
                    f"instance {plan.device} made {spins} decisions at t={now} without time"
                    f" passing; last action {inst.next_action(now)!r}"
                )
        else:
            last_now, spins = now, 0
        # ---- usage and faults due now
        if in_session and now >= session_end:
            inst.handle(AppBackgrounded(), session_end)
            in_session, next_api = False, math.inf
            if session_after is None:
                session_after = ctx.next_session(session_end)
            session_start, session_after = session_after, None
        if not in_session and now >= session_start:
            inst.handle(AppLaunched(), now)
            in_session = True
            session_end = math.inf if plan.always_on else now + ctx.session_length()
            next_api = now
        if now >= next_loss:
            inst.handle(CredentialsLost(), now)
            ctx.losses += 1
            next_loss = ctx.next_loss(now)
        if now >= next_update:
            statement = ctx.replacement_for(inst.software_id)
            next_update = math.inf
            if statement is not None:
                inst.handle(AppUpdated(statement, statement), now)
                ctx.updates += 1
        if in_session and now >= next_api and inst.awaiting is None:
            if plan.bulk:
                next_api = _bulk_api_calls(ctx, inst, plan, now, session_end, next_loss, end_at)
            if now >= next_api:
                inst.handle(ApiCallDue(), now)
                ctx.api_wanted += 1
                next_api = now + interval

        # ---- the lifecycle's decision
        action = inst.next_action(now)
        if isinstance(action, Blocked):
            if blocked_since is None:
                blocked_since = now
                ctx.blocked.change(now, +1)
            wake = min(next_update, end_at)
        else:
            if blocked_since is not None:
                ctx.blocked.change(now, -1)
                blocked_since = None
            if isinstance(action, Reauthenticate):
                ctx.reauthentications.add(now)
                ctx.cohort_count(plan.cohort, "reauthentications", now)
                inst.handle(Reauthenticated(), now)
                continue
            if not isinstance(action, Wait):
                endpoint = endpoint_of(action)
                answer = server.answer(action, plan.device, now)
                counters.add(endpoint, answer.outcome, now)
                ctx.cohort_count(plan.cohort, endpoint, now)
                if answer.expired:
                    ctx.expired_calls.add(now)
                    ctx.cohort_count(plan.cohort, "expired_token_calls", now)
                ctx.events += 1
                if answer.delay > 0:
                    yield env.timeout(answer.delay)
                if answer.status:
                    inst.handle(Response(answer.status, answer.body, answer.headers), env.now)
                else:
                    inst.handle(Failure("timeout"), env.now)
                continue
            until = action.until
            if not in_session:
                usage_due = session_start
            elif next_api < session_end or until < session_end:
                usage_due = min(session_end, next_api)
            else:
                # Nothing is decided at the session's end: the app goes to the background
                # (applied, with its own time, when the process next wakes), and the next
                # decision is a background timer, the next session or a fault.
                if session_after is None:
                    session_after = ctx.next_session(session_end)
                usage_due = session_after
                if not timers_in_background:
                    until = math.inf
            wake = min(until, usage_due, next_loss, next_update, end_at)
        if wake == math.inf:
            break
        ctx.events += 1
        yield env.timeout(max(0.0, wake - now))

    if blocked_since is not None:
        ctx.blocked.change(env.now, -1)


def _bulk_api_calls(
    ctx: FleetContext,
    inst: AppInstance,
    plan: Plan,
    now: float,
    session_end: float,
    next_loss: float,
    end_at: float,
) -> float:
    """Count the API calls due from `now` that go out and succeed without a decision in
    between; return when the next API call is due."""
    token = inst.token
    if token is None:
        return now
    interval = ctx.scenario.usage.api_interval
    limit = min(
        inst.usable_until(now),
        ctx.server.api_ok_until(token.value, now),
        session_end,
        next_loss,
        end_at,
    )
    if limit <= now or not ctx.server.bulk_admissible(plan.device, interval, now):
        return now
    calls = math.ceil((limit - now) / interval - 1e-12)
    if calls <= 0:
        return now
    ctx.server.admit_series(plan.device, now, interval, calls)
    ctx.counters.add_series("api", "200", now, interval, calls)
    in_run = min(calls, math.ceil((ctx.duration - now) / interval - 1e-12))
    ctx.cohort_count(plan.cohort, "api", now, in_run)
    ctx.api_wanted += calls
    return now + calls * interval
