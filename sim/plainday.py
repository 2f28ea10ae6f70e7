"""A plain phone's day without the agent: the run to completion's fast path for mobile apps.

Most of a default fleet is phones whose whole day is decided by their draws: sessions
that start and end, API calls every `usage.api_interval` on a cached token, a token
request at a launch or on the foreground timer when the token nears its refresh point, and
nothing else — no loss, no update, no outage, no revocation, no throttle that refuses, no
failure. For such an instance the agent's generator, the lifecycle's state machine and
the server's dispatch do the same few things in the same order every time; this module
does those things directly, from the same streams with the same draws in the same order,
and records the same counts with the same calls in the same order (`tests/test_plainday.py`
holds every count of every shipped scenario, fast path against the agent and against
stepping, byte for byte).

It never guesses. `plain_fleet` says whether a run may use it at all (statically: no
outage, revocation, rollout or TTL drift, a throttle that provably admits every request of
a plain day); `plain_day` then follows one instance and gives up — returning None before
anything was recorded — at the first thing outside a plain day (a loss before the end, a
device clock that runs fast or steps, a cold start, a timeout, a tie between two due
times). The driver then runs that instance with the agent, as before, from fresh streams.
What it follows is `Agent.life` with `renew=True` and bulk calls, and the lifecycle's
exact-clock answers to `usable_until` and `next_action` (a phone's monotonic clock at
rate 1 reads true time; a wall-clock offset does not touch an `expires_in` basis).
"""

from __future__ import annotations

import math

from dcrload.core.lifecycle import MIN_TOKEN_USE
from dcrload.core.streams import LazyStream, Rng
from dcrload.core.throttle import TokenBucket
from dcrload.model.counts import RunCounts
from dcrload.model.plans import FleetModel, Plan
from sim.server import SimServer

SPINS = 100
"""Decisions at one instant after which the fast path leaves the day to the agent."""

# what one plain day records, in the order the agent and the server record it
_TOKEN, _API, _SERIES = 0, 1, 2


def plain_fleet(model: FleetModel, server: SimServer) -> list[bool]:
    """Per cohort: whether its instances may take the fast path in this run (a phone app
    with a proactive strategy on the `expires_in` basis, in a run whose server can only
    answer a plain day's requests with 2xx)."""
    scenario = model.scenario
    throttle = scenario.server.throttle
    interval = model.api_interval
    admits = not throttle.enabled or (throttle.rate * interval >= 1.0 and throttle.burst >= 10)
    run_ok = (
        model.bulk
        and admits
        and not scenario.usage.api_jitter
        and not scenario.faults.outages
        and not scenario.faults.revocations
        and not model.rollouts
        and not scenario.token.ttl_jitter
        and not server.fifo
        and not server.reject_cost
        and interval > 0
    )
    return [
        run_ok
        and config.platform == "mobile"
        and config.basis == "expires_in"
        and config.refresh.proactive
        and config.antipattern == "none"
        and config.time_scale == 1.0
        for config in model.configs
    ]


class PlainDay:
    """The fast path of one run: the run's constants, read once, and `run(plan)`."""

    def __init__(self, model: FleetModel, server: SimServer) -> None:
        self.model = model
        self.server = server
        self.allowed = plain_fleet(model, server)
        self.taken = 0
        """Instances the fast path ran (the rest ran in the agent)."""

    def run(self, plan: Plan, counts: RunCounts) -> int | None:
        """Run `plan`'s day and record it in `counts`; its events, or None if it is not
        plain: then nothing was recorded and `plan.usage` is where it was."""
        usage = plan.usage
        state, gauss_next = usage.state, usage.gauss_next
        events = self._day(plan, counts)
        if events is None:
            usage.state, usage.gauss_next = state, gauss_next
        return events

    def _day(self, plan: Plan, counts: RunCounts) -> int | None:
        if not (self.allowed[plan.cohort] and plan.warm and plan.bulk and not plan.always_on):
            return None
        if plan.install_at != 0.0:
            return None
        model, server = self.model, self.server
        index, cohort = plan.index, plan.cohort
        duration = model.duration
        end_at = min(plan.uninstall_at, duration)
        clock = model.clock(model.stream(index, "clock"))
        if clock.rate != 1.0 or clock.steps:
            return None  # a skewed or stepped clock: the agent's general path
        rate = model.loss_rate
        if rate > 0 and model.stream(index, "losses").expovariate(rate) < end_at:
            return None  # a credential loss inside the day
        config = model.configs[cohort]
        refresh, ttl = config.refresh, model.ttl
        refresh_rng: Rng = LazyStream(model.key, index, "refresh")  # type: ignore[assignment]
        usage = plan.usage
        interval = model.api_interval
        next_start, session_length = model.diurnal.next_start, model.session_length.sample

        # prime (Agent.prime, AppInstance.restore): a token of random age below the cycle
        issued = -usage.uniform(0.0, model.cycles[cohort])
        expiry = issued + ttl * 1.0
        planned = refresh.plan(issued, expiry, refresh_rng)
        earliest = issued + MIN_TOKEN_USE * ttl
        refresh_at = planned.refresh_at
        for_call = False

        srv_rng: Rng | None = None
        rtt, half_rtt, timeout = server.rtt, server._half_rtt, server.timeout
        service_time = server.service_time.sample
        throttling = server._throttling
        t_rate, t_burst = server._rate, server._burst_size
        bucket: TokenBucket | None = None

        ops: list[tuple[int, float, float, float, float]] = []
        wanted_calls = 0
        events = 0
        session_start = plan.first_launch
        session_end = -math.inf
        session_after: float | None = None
        in_session = foreground = wanted = False
        next_api = math.inf
        t = 0.0  # the driver's time (Timeline.t)
        ahead = -math.inf
        last_wake = last_now = -1.0
        spins = 0

        while True:
            if ahead >= 0.0:
                now, ahead = ahead, -math.inf
            else:
                now = t
            if now >= end_at:
                break
            if now == last_now:
                spins += 1
                if spins > SPINS:
                    return None  # the agent's own spin check says what went wrong
            else:
                last_now, spins = now, 0
            if in_session and now >= session_end:
                foreground = wanted = for_call = False  # AppBackgrounded
                in_session, next_api = False, math.inf
                if session_after is None:
                    session_after = next_start(session_end, usage)
                session_start, session_after = session_after, None
            if not in_session and now >= session_start:
                foreground = True  # AppLaunched
                in_session = True
                session_end = now + session_length(usage)
                next_api = now
            if in_session and now >= next_api:
                wanted_calls += 1
                next_api = now + interval
                if now >= expiry or now >= refresh_at:
                    usable = now
                else:
                    usable = expiry if expiry < refresh_at else refresh_at
                limit = min(usable, session_end, end_at)
                if limit > now + interval:  # a straight burst (AppInstance.straight_call)
                    burst = math.ceil((limit - now) / interval - 1e-12)
                    events += 1
                    # SimServer._burst: the token serves every call (usable ≤ its expiry)
                    if throttling:
                        if bucket is None:
                            bucket = TokenBucket(t_burst, now)
                        if bucket.level_at(now, t_rate, t_burst) < 1.0:
                            return None
                        bucket.take_series(now, interval, burst, t_rate, t_burst)
                    t = now + ((burst - 1) * interval + rtt)
                    for_call = wanted = False  # api_calls_succeeded
                    ops.append((_SERIES, now, burst, 0.0, 0.0))
                    wanted_calls += burst - 1
                    next_api = now + burst * interval
                    continue
                wanted = True  # ApiCallDue

            # ---- next_action, in the states a plain day has (exact readings)
            if wanted:
                api_ready = for_call or now < expiry
                timer_ok = foreground and now >= earliest
                if now >= expiry:
                    fetch = not for_call or timer_ok
                elif now < refresh_at:
                    fetch = False
                else:
                    fetch = timer_ok or not for_call
                if not fetch and not api_ready:
                    return None  # the call would fail
            else:
                api_ready = False
                if now >= expiry or now >= refresh_at:
                    fetch = foreground and now >= earliest
                else:
                    fetch = False
            if fetch:
                events += 1
                if throttling:
                    if bucket is None:
                        bucket = TokenBucket(t_burst, now)
                    if not bucket.take(now, t_rate, t_burst):
                        return None
                if srv_rng is None:
                    srv_rng = model.stream(index, "server")
                arrival = now + half_rtt
                service = service_time(srv_rng)
                delay = rtt + service
                response = rtt + 0.0 + service
                if delay > timeout:
                    return None  # a timeout
                ops.append((_TOKEN, now, arrival, service, min(response, timeout)))
                done = now + delay
                t = done
                expiry = done + ttl * 1.0 * 1.0
                planned = refresh.plan(done, expiry, refresh_rng)
                earliest = done + MIN_TOKEN_USE * (ttl * 1.0)
                refresh_at = planned.refresh_at
                for_call = wanted
                continue
            if api_ready:  # the due call goes out on the token
                events += 1
                if throttling:
                    if bucket is None:
                        bucket = TokenBucket(t_burst, now)
                    if not bucket.take(now, t_rate, t_burst):
                        return None
                if now >= expiry:
                    return None  # the server refuses an expired token (401)
                for_call = wanted = False
                ops.append((_API, now, 0, 0.0, 0.0))
                t = now + rtt
                continue
            # a wait: the timer (in the foreground), the next call, the session's end
            if not foreground:
                until = math.inf
            else:
                due = now if now >= refresh_at else refresh_at
                until = due if due >= earliest else earliest
            if not in_session:
                usage_due = session_start
            elif next_api < session_end or until < session_end:
                usage_due = session_end if session_end < next_api else next_api
            else:
                if session_after is None:
                    session_after = next_start(session_end, usage)
                usage_due = session_after
                until = math.inf  # no background timers on a phone
            wake = min(until, usage_due, end_at)
            if wake >= end_at:
                break
            if wake == last_wake:
                return None  # two things due at one instant: the agent orders them
            last_wake = wake
            ahead = wake

        self._record(plan, counts, ops, wanted_calls)
        self.taken += 1
        return events

    def _record(
        self,
        plan: Plan,
        counts: RunCounts,
        ops: list[tuple[int, float, float, float, float]],
        wanted_calls: int,
    ) -> None:
        """Record the day as the agent and the server would have, call for call."""
        server, cohort, interval = self.server, plan.cohort, self.model.api_interval
        record = server.record
        counts.joined(cohort)
        counts.api_wanted += wanted_calls
        for kind, sent, a, b, c in ops:
            if kind == _SERIES:
                counts.series("api", "200", sent, interval, int(a), cohort)
            elif kind == _API:
                counts.request("api", "200", sent, cohort)
            else:  # a token request: the server's records, then the agent's
                server.arrivals.append(a)
                server.services.append(b)
                if record is not None:
                    record.busy(a + 0.0, a + 0.0 + b)
                    record.served("token", sent, 0.0, c)
                server.tokens += 1
                counts.request("token", "201", sent, cohort)
        counts.left(cohort, 0)
