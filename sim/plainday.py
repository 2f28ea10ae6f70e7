"""A plain day without the agent: the run to completion's fast path for phone and TV apps.

Most of a default fleet is apps whose whole day is decided by their draws: sessions that
start and end, API calls every `usage.api_interval` on a cached token, a token request at
a launch, on the foreground timer or (a TV) on the background timer when the token nears
its refresh point, and nothing else — no loss, no update, no outage, no revocation, no
throttle that refuses, no failure. For such an instance the agent's generator, the
lifecycle's state machine and the server's dispatch do the same few things every time;
this module does those things directly, with the same draws from the same streams in the
same order, and records the same counts (`tests/test_plainday.py` holds every record of
every shipped scenario, and of variants built to make it give up, to the agent's, byte
for byte).

It never guesses. `plain_fleet` says which cohorts of a run may use it at all
(statically: no outage, revocation, rollout, TTL jitter, refusal cost or API jitter, a
throttle that admits a call per API interval, no always-on server, no anti-pattern);
`PlainDay.run` then follows one instance and gives up — returning None with nothing
recorded and the usage stream put back — at the first thing outside a plain day (a loss
inside the day, a cold start, a refusal, a timeout, a call that would fail, a spin). The
driver then runs that instance with the agent, from fresh streams. What it follows is
`Agent.life` with `renew=True` and bulk calls (background renewals as `Agent._renewals`
sends them), the lifecycle's answers in its plain states (`usable_until`, `next_action`'s
refresh rule and wake-up, `renewal_due`/`renewal_wait`), the device clock read through
`DeviceClock` as `AppInstance` reads it, and the server's answers as `SimServer.answer`
and `_burst` give them. A change to any of those must be made here too; the test says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dcrload.core.clocks import DeviceClock
from dcrload.core.lifecycle import MIN_TOKEN_USE, InstanceConfig
from dcrload.core.streams import LazyStream, Rng, Stream
from dcrload.model.counts import RunCounts, Service
from dcrload.model.drawn import drawn_streams
from dcrload.model.plans import FleetModel, Plan, own_cycle
from sim.server import SimServer

CLOCK_DRAWS = 4
"""Clock draws made in bulk (`prepare`): a wild-clock check and a normal offset's two."""

SERVER_DRAWS = 8
"""Server draws made in bulk: a day's service times, about three of them."""

SPINS = 100
"""Decisions at one instant after which the fast path leaves the day to the agent."""


def plain_fleet(model: FleetModel, server: SimServer) -> list[bool]:
    """Per cohort: whether its instances may take the fast path in this run (a phone or TV
    app with a proactive strategy and no anti-pattern, in a run whose server can only
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
        and config.platform in ("mobile", "tv")
        and config.refresh.proactive
        and config.antipattern == "none"
        and "." not in cohort.software_id  # a token value with two dots is read as a JWT
        for config, cohort in zip(model.configs, scenario.cohorts, strict=True)
    ]


class PlainDay:
    """The fast path of one run: the run's constants, read once, `run(plan, counts)`, and
    `flush()`, which writes the records of the plain days run since the last flush.

    A plain day's requests are appended to lists for the whole run, not recorded one by
    one (that was a fifth of its time): `flush` writes them to their recorders in bulk, and
    the driver flushes before it runs an instance in the agent, before it checks the queue
    and at the end, so every recorder and the server get their records in the order the
    agent would have given them, and no one reads a count in between. The kinds of record
    a day makes are registered with its recorder when the day ends, as the agent would
    have registered them (a recorder's rows keep the order it first saw them in).
    """

    def __init__(self, model: FleetModel, server: SimServer) -> None:
        self.model = model
        self.server = server
        self.allowed = plain_fleet(model, server)
        self.taken = 0
        """Instances the fast path ran (the rest ran in the agent)."""
        self._pending: dict[int, _Pending] = {}
        # the server's records of the plain days' token requests, not yet written
        self.arrivals: list[float] = []
        self.services: list[float] = []
        # the draws a plain day makes, with their fields read once
        self.service_time = server.service_time.sampler()
        self.session_length = model.session_length.sampler()
        self._ahead: dict[int, tuple[Stream, Stream, Stream | None]] = {}
        """Streams made by `prepare`, by instance index."""

    def prepare(self, plans: Sequence[Plan]) -> None:
        """Make the losses, clock and server streams of the plans that may be plain, with
        their first draws made at once (`drawn_streams`: the same draws), for the next
        `run`s; streams of a plan not prepared are made one by one when it runs."""
        indices = [plan.index for plan in plans if self._may_take(plan)]
        key = self.model.key
        self._ahead = dict(
            zip(
                indices,
                zip(
                    drawn_streams(key, "losses", indices, 1),
                    drawn_streams(key, "clock", indices, CLOCK_DRAWS),
                    drawn_streams(key, "server", indices, SERVER_DRAWS),
                    strict=True,
                ),
                strict=True,
            )
        )

    def _may_take(self, plan: Plan) -> bool:
        return (
            self.allowed[plan.cohort]
            and plan.warm
            and plan.bulk
            and not plan.always_on
            and plan.install_at == 0.0
        )

    def run(self, plan: Plan, counts: RunCounts) -> int | None:
        """Run `plan`'s day for `counts` (written at the next `flush`); its events, or None
        if it is not plain: then nothing was recorded and `plan.usage` is where it was."""
        usage = plan.usage
        mark = usage.mark()
        pending = self._pending.get(id(counts))
        if pending is None:
            pending = self._pending[id(counts)] = _Pending(counts)
        events = self._day(plan, pending)
        if events is None:
            usage.rewind(mark)
        return events

    def _day(self, plan: Plan, pending: _Pending) -> int | None:
        if not self._may_take(plan):
            return None
        model = self.model
        index, cohort = plan.index, plan.cohort
        ahead = self._ahead.pop(index, None)
        if ahead is None:  # not prepared: its streams made one by one (the server's lazily)
            ahead = (model.stream(index, "losses"), model.stream(index, "clock"), None)
        losses, clocks, servers = ahead
        end_at = min(plan.uninstall_at, model.duration)
        rate = model.loss_rate
        if rate > 0 and losses.expovariate(rate) < end_at:
            return None  # a credential loss inside the day
        config = model.configs[cohort]
        clock = model.clock(clocks)
        day = _Day(self, plan, config, clock, pending)
        day.srv_rng = servers
        # prime (Agent.prime, AppInstance.restore): a token of random age below the cycle
        ttl = model.ttl
        cycle = own_cycle(config, clock, ttl, model.cycles[cohort])
        issued = -plan.usage.uniform(0.0, cycle)
        reading = day.read(issued)
        expiry = issued + ttl if config.basis == "exp" else reading + ttl * clock.rate
        day.token(issued, reading, expiry, ttl, issued + ttl, False)
        try:
            day.wanted_calls = day.live(end_at)
        except GiveUp:
            day.take_back()
            return None
        self.taken += 1
        return self._record(plan, pending, day)

    def _record(self, plan: Plan, pending: _Pending, day: _Day) -> int:
        """What the agent records for the day beyond the requests (in the lists already):
        the instance, its wanted calls, the cohort's totals, the kinds of request; the
        day's events (the requests it sent, a burst as one)."""
        counts, cohort = pending.counts, plan.cohort
        alone = len(pending.api) - day.api_mark
        bursts = len(pending.series_n) - day.series_mark
        api = alone + (sum(pending.series_n[day.series_mark :]) if bursts else 0)
        fetches = len(self.arrivals) - day.server_mark
        counts.instances += 1
        counts.api_wanted += day.wanted_calls
        row = counts.by_cohort[cohort]
        row["instances"] += 1
        row["api"] += api
        row["token"] += fetches
        self.server.tokens += fetches
        kinds = (cohort, day.api_first, api > 0, fetches > 0)
        if kinds not in pending.seen:
            pending.seen.add(kinds)
            self._register(counts, *kinds)
        return fetches + alone + bursts

    def _register(
        self, counts: RunCounts, cohort: int, api_first: bool | None, api: bool, token: bool
    ) -> None:
        """Register the day's kinds of record with `counts` and the server's recorder in the
        order the agent's records would have (API or token first, as the day's first
        request was; a token request's service record before its count)."""
        for kind in ("api", "token") if api_first else ("token", "api"):
            if kind == "api" and api:
                counts.counters.code("api", "200")
            elif kind == "token" and token:
                if self.server.record is not None:
                    self.server.record.code("token")
                counts.counters.code("token", "201")
                counts.per_second.code("token")
                counts.per_second.code(counts.cohort_rows[cohort])

    def flush(self) -> None:
        """Write every plain day's requests run since the last flush to their recorders and
        the server (all inside [0, duration): a plain day ends by then)."""
        interval, server = self.model.api_interval, self.server
        for pending in self._pending.values():
            pending.write(interval, server.record)
        arrivals, services = self.arrivals, self.services
        if not arrivals:
            return
        server.arrivals.extend(arrivals)
        server.services.extend(services)
        if server.record is not None:
            starts = [arrival + 0.0 for arrival in arrivals]
            ends = [start + service for start, service in zip(starts, services, strict=True)]
            server.record.busy_spans(starts, ends)
        arrivals.clear()
        services.clear()


class _Pending:
    """One recorder's plain-day requests not yet written (`PlainDay.flush`)."""

    __slots__ = ("answered", "api", "counts", "seen", "series_first", "series_n", "tokens")

    def __init__(self, counts: RunCounts) -> None:
        self.counts = counts
        self.api: list[float] = []
        """Send times of API calls that went out alone."""
        self.series_first: list[float] = []
        self.series_n: list[int] = []
        """Straight bursts: first call, number of calls (one API interval apart)."""
        self.tokens: list[list[float]] = [[] for _ in range(counts.cohorts)]
        """Send times of token requests, per cohort."""
        self.answered: list[list[float]] = [[] for _ in range(counts.cohorts)]
        """Their response times, in the same order (the server's recorder gets them)."""
        self.seen: set[tuple[int, bool | None, bool, bool]] = set()
        """The kinds of day already registered (`PlainDay._register`)."""

    def write(self, interval: float, record: Service | None) -> None:
        """Write the requests to the recorder, the token requests' service records to the
        server's (`record`)."""
        counts = self.counts
        counters = counts.counters
        if self.api:
            counters.add_times(counters.codes[("api", "200")], self.api)
            self.api.clear()
        if self.series_first:
            counters.add_runs(
                counters.codes[("api", "200")], self.series_first, interval, self.series_n
            )
            self.series_first.clear()
            self.series_n.clear()
        per_second = counts.per_second
        for cohort, (sent, answered) in enumerate(zip(self.tokens, self.answered, strict=True)):
            if sent:
                counters.add_times(counters.codes[("token", "201")], sent)
                per_second.add_times(per_second.code("token"), sent)
                per_second.add_times(per_second.code(counts.cohort_rows[cohort]), sent)
                if record is not None:
                    record.served_times(record.code("token"), sent, 0.0, answered)
                sent.clear()
                answered.clear()


class GiveUp(Exception):
    """Something outside a plain day: the agent runs this instance."""


class _Day:
    """One instance's day: the lifecycle's state as plain fields, and `live` to run it.

    Reads follow `AppInstance`: `reading`/`when` of the device clock on the cohort's basis
    (true time for an exact clock), the token's expiry, refresh point and earliest refresh
    as `_token` plans them, and the server's own expiry (true time) beside the device's.
    """

    __slots__ = (
        "api_first",
        "api_mark",
        "api_sent",
        "basis",
        "clock",
        "config",
        "earliest",
        "exact",
        "expiry",
        "fast",
        "for_call",
        "level",
        "model",
        "plan",
        "read",
        "refresh_at",
        "refresh_rng",
        "series_first",
        "series_mark",
        "series_n",
        "server",
        "server_expiry",
        "server_mark",
        "since",
        "srv_rng",
        "t",
        "timers",
        "token_answered",
        "token_arrival",
        "token_mark",
        "token_sent",
        "token_service",
        "wanted_calls",
        "when",
    )

    def __init__(
        self,
        fast: PlainDay,
        plan: Plan,
        config: InstanceConfig,
        clock: DeviceClock,
        pending: _Pending,
    ) -> None:
        self.fast = fast
        self.model, self.server, self.plan, self.config, self.clock = (
            fast.model,
            fast.server,
            plan,
            config,
            clock,
        )
        self.basis = basis = config.basis
        self.exact = clock.reads_true_time(basis)
        self.read, self.when = clock.readers(basis)
        self.timers = config.platform != "mobile"
        self.refresh_rng: Rng = LazyStream(fast.model.key, plan.index, "refresh")
        self.srv_rng: Rng | None = None
        self.level = 0.0
        self.since = -math.inf
        """The throttle bucket: its level at `since` (full before the first request)."""
        # the run's lists (PlainDay.run takes back what a day that gives up appended)
        self.token_sent = pending.tokens[plan.cohort]
        self.token_arrival = fast.arrivals
        self.token_service = fast.services
        self.token_answered = pending.answered[plan.cohort]
        self.api_sent = pending.api
        self.series_first = pending.series_first
        self.series_n = pending.series_n
        self.api_mark = len(pending.api)
        self.series_mark = len(pending.series_n)
        self.token_mark = len(self.token_sent)
        self.server_mark = len(fast.arrivals)
        self.api_first: bool | None = None
        """Whether the day's first request was an API call (the order in which a new
        recorder first sees the two kinds, which its rows keep)."""
        self.wanted_calls = 0
        self.t = 0.0
        self.expiry = self.refresh_at = self.earliest = self.server_expiry = 0.0
        self.for_call = False

    def token(
        self,
        now: float,
        reading: float,
        expiry: float,
        lifetime: float,
        server_expiry: float,
        for_call: bool,
    ) -> None:
        """`AppInstance._token`: a token that arrived at `now`, its refresh planned."""
        self.expiry = expiry
        self.refresh_at = self.config.refresh.refresh_at(reading, expiry, self.refresh_rng)
        self.earliest = now + MIN_TOKEN_USE * lifetime
        self.server_expiry = server_expiry
        self.for_call = for_call

    def take_back(self) -> None:
        """Drop what the day appended to the run's lists (it gave up)."""
        del self.api_sent[self.api_mark :]
        del self.series_first[self.series_mark :]
        del self.series_n[self.series_mark :]
        del self.token_sent[self.token_mark :]
        del self.token_answered[self.token_mark :]
        del self.token_arrival[self.server_mark :]
        del self.token_service[self.server_mark :]

    def take(self, now: float) -> None:
        """A request through the server's throttle bucket: `TokenBucket.take` written out
        on two fields (`since` is -inf until the first request, when the bucket is full);
        a refusal is not plain."""
        server = self.server
        level = self.level + (now - self.since) * server._rate
        if level > server._burst_size:
            level = server._burst_size
        self.since = now
        if level < 1.0:
            raise GiveUp
        self.level = level - 1.0

    def fetch(self, now: float, wanted: bool) -> None:
        """One token request sent at `now` (`SimServer.answer`, then `_parse_token`)."""
        server = self.server
        if server._throttling:
            self.take(now)
        rng = self.srv_rng
        if rng is None:
            rng = self.srv_rng = self.model.stream(self.plan.index, "server")
        service = self.fast.service_time(rng)
        rtt = server.rtt
        delay = rtt + service
        if delay > server.timeout:
            raise GiveUp  # a timeout
        if self.api_first is None:
            self.api_first = False
        self.token_sent.append(now)
        self.token_arrival.append(now + server._half_rtt)
        self.token_service.append(service)
        self.token_answered.append(rtt + 0.0 + service)  # not above the timeout: see above
        done = now + delay
        self.t = done
        ttl = server.ttl
        config = self.config
        scale = config.time_scale
        reading = done if self.exact else self.read(done)
        if self.basis == "exp":  # the simulated token is no JWT: created_at + expires_in
            expiry = (float(done * 1000.0 / 1000.0 + ttl) - config.epoch) * scale
        else:
            expiry = reading + float(ttl) * scale * self.clock.rate
        self.token(done, reading, expiry, float(ttl) * scale, done + ttl, wanted)

    def call(self, now: float) -> None:
        """The due API call, alone (`SimServer.answer` on the API route)."""
        server = self.server
        if server._throttling:
            self.take(now)
        if now >= self.server_expiry:
            raise GiveUp  # 401: the server's clock says the token expired
        self.for_call = False
        if self.api_first is None:
            self.api_first = True
        self.api_sent.append(now)
        self.t = now + server.rtt

    def burst(self, now: float, n: int, every: float) -> None:
        """n straight calls (`SimServer._burst`): all answered 200, or not plain."""
        server_expiry = self.server_expiry
        if server_expiry <= now or math.ceil((server_expiry - now) / every - 1e-12) < n:
            raise GiveUp  # a call of the burst would be refused
        server = self.server
        if server._throttling:  # TokenBucket.level_at and take_series, written out
            rate, size = server._rate, server._burst_size
            level = self.level + (now - self.since) * rate
            if level > size:
                level = size
            if every * rate < 1.0 or level < 1.0:
                raise GiveUp
            self.level = min(size - 1.0, (level - 1.0) + (n - 1) * (every * rate - 1.0))
            self.since = now + (n - 1) * every
        self.t = now + ((n - 1) * every + server.rtt)
        self.for_call = False  # api_calls_succeeded
        if self.api_first is None:
            self.api_first = True
        self.series_first.append(now)
        self.series_n.append(n)

    def wait_until(self, now: float, foreground: bool) -> float:
        """`next_action`'s wake-up when nothing is due (the refresh timer)."""
        if not (foreground or self.timers):
            return math.inf
        due = self.when(self.refresh_at, now)
        earliest = self.earliest
        return due if due >= earliest else earliest

    def renewal_due(self, now: float) -> bool:
        """`AppInstance.renewal_due` in the background (timers fire, nothing wanted)."""
        if now < self.earliest:
            return False
        reading = self.read(now)
        return reading >= self.expiry or reading >= self.refresh_at

    def renewal_wait(self, now: float) -> float | None:
        """`AppInstance.renewal_wait`: None when a renewal is due now, else its timer."""
        return None if self.renewal_due(now) else self.wait_until(now, False)

    def live(self, end_at: float) -> int:
        """`Agent.life` with `renew=True` and bulk calls: the API calls the day wanted, or
        `GiveUp` where the day is not plain."""
        model, plan = self.model, self.plan
        usage = plan.usage
        interval = model.api_interval
        next_start, session_length = model.diurnal.next_start, self.fast.session_length
        timers, read, exact = self.timers, self.read, self.exact
        session_start = plan.first_launch
        session_end = -math.inf
        session_after: float | None = None
        in_session = foreground = wanted = False
        next_api = math.inf
        ahead = -math.inf
        last_now = -1.0
        spins = wanted_calls = 0
        inf, none_ahead = math.inf, -math.inf
        while True:
            if ahead >= 0.0:
                now, ahead = ahead, none_ahead
            else:
                now = self.t
            if now >= end_at:
                return wanted_calls
            if now == last_now:
                spins += 1
                if spins > SPINS:
                    raise GiveUp  # the agent's own spin check says what went wrong
            else:
                last_now, spins = now, 0
            if in_session and now >= session_end:
                foreground = wanted = self.for_call = False  # AppBackgrounded
                in_session, next_api = False, inf
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
                if exact:  # usable_until, inline
                    expiry, refresh_at = self.expiry, self.refresh_at
                    if now >= expiry or now >= refresh_at:
                        limit = now
                    else:
                        limit = expiry if expiry < refresh_at else refresh_at
                else:
                    limit = self.usable_until(now)
                if session_end < limit:
                    limit = session_end
                if end_at < limit:
                    limit = end_at
                if limit > now + interval:  # a straight burst (AppInstance.straight_call)
                    burst = math.ceil((limit - now) / interval - 1e-12)
                    self.burst(now, burst, interval)
                    wanted = False
                    wanted_calls += burst - 1
                    next_api = now + burst * interval
                    continue
                wanted = True  # ApiCallDue

            # ---- next_action, in the states a plain day has (`_refresh_reason` inline)
            reading = now if exact else read(now)
            expiry, for_call = self.expiry, self.for_call
            timer_ok = (foreground or timers) and now >= self.earliest
            if reading >= expiry:
                fetch = (wanted and not for_call) or timer_ok
            elif reading < self.refresh_at:
                fetch = False
            else:
                fetch = timer_ok or (wanted and not for_call)
            api_ready = wanted and (for_call or reading < expiry)
            if wanted and not fetch and not api_ready:
                raise GiveUp  # the call would fail
            if fetch:
                self.fetch(now, wanted)
                done = self.t
                if (  # the next pass, at the answer, would only send the due call on the
                    wanted  # new token: not past the end, the session's end or the next
                    and done != now  # call, and the token too young for its own timer
                    and done < end_at
                    and done < session_end
                    and done < next_api
                    and done < self.earliest
                ):
                    last_now, spins = done, 0  # that pass's spin check
                    self.call(done)
                    wanted = False
                continue
            if api_ready:  # the due call goes out on the token
                self.call(now)
                wanted = False
                continue
            until = self.wait_until(now, foreground)
            if not in_session:
                usage_due = session_start
            elif next_api < session_end or until < session_end:
                usage_due = session_end if session_end < next_api else next_api
            else:
                if session_after is None:
                    session_after = next_start(session_end, usage)
                usage_due = session_after
                if not timers:
                    until = inf
            wake = until if until <= usage_due else usage_due  # min(until, usage_due, end_at)
            if end_at < wake:
                wake = end_at
            if wake >= end_at:
                return wanted_calls
            if not in_session and wake == until and wake < session_start and self.renewal_due(wake):
                # Agent._renewals: background renewals on the timer, one request each
                limit = min(session_start, end_at)
                t = wake
                while True:
                    self.fetch(t, False)
                    answered = self.t
                    if answered >= limit or answered == t:
                        break  # on at the driver's time
                    due = self.renewal_wait(answered)
                    if due is None:
                        break
                    if due >= limit or not self.renewal_due(due):
                        ahead = due if due < limit else limit
                        last_now, spins = answered, 0
                        break
                    t = due
                if ahead < 0.0:
                    last_now, spins = t, 0
                    continue
                if ahead >= end_at:
                    return wanted_calls
                continue
            ahead = wake

    def usable_until(self, now: float) -> float:
        """`AppInstance.usable_until` for a plain token on a clock that does not read true
        time (`live` answers the exact case inline)."""
        reading = self.read(now)
        if reading >= self.expiry or reading >= self.refresh_at:
            return now
        limit = self.when(self.expiry, now)
        other = self.when(self.refresh_at, now)
        return limit if limit <= other else other
