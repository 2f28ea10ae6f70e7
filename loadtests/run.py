"""One process's part in a replay, wired to Locust's events by the locustfile.

- Every process reads the flags once (`RunSettings`), lazily, because a worker only
  learns the master's flags with its first spawn message.
- The master (or the single local process) sets up the mock and plays the scenario's
  server-side faults at their scaled times (`loadtests.faults`), and at the end merges what
  every process counted, checks the thresholds and writes ``measured.json``.
- Every load-generating process (local or worker) builds its `LiveFleet` at test start —
  its share of the instances, partitioned by worker index — warms the warm ones up, and
  reports what it counted with each stats report to the master.

Driver time 0 (the epoch) is the test start plus a warm-up allowance, the same on every
process (they start within milliseconds of each other).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import StatsEntry

from dcrload.analysis.thresholds import EXIT_THRESHOLDS, check, measured_values
from dcrload.core.errors import UsageError
from loadtests.faults import MockAdmin, fault_timeline, mock_settings, prepare_mock, run_timeline
from loadtests.fleet import LiveFleet, merge_snapshots
from loadtests.measured import measured_result
from loadtests.options import RunSettings
from loadtests.timescale import DriverClock, client_timeout
from sim.summary import summary_of

log = logging.getLogger("dcrload")

REPORT_KEY = "dcrload"
MEASURED = "measured.json"


class Replay:
    """The replay state of one Locust process (stored on its `Environment`)."""

    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self._settings: RunSettings | None = None
        self.fleet: LiveFleet | None = None
        self.clock: DriverClock | None = None
        self.reports: dict[str, dict[str, Any]] = {}
        self.faults_greenlet: Any = None
        self.written = False

    # ------------------------------------------------------------------ settings

    @property
    def runner(self) -> Any:
        return self.environment.runner

    @property
    def is_worker(self) -> bool:
        return isinstance(self.runner, WorkerRunner)

    @property
    def is_master(self) -> bool:
        return isinstance(self.runner, MasterRunner)

    def workers(self) -> int:
        options = self.environment.parsed_options
        if self.is_master:
            return max(1, self.runner.worker_count)
        given = getattr(options, "dcr_workers", 0) or getattr(options, "expect_workers", 1)
        return max(1, int(given)) if self.is_worker else 1

    def settings(self) -> RunSettings:
        if self._settings is None:
            options = self.environment.parsed_options
            host = self.environment.host or getattr(options, "host", "") or ""
            try:
                self._settings = RunSettings.from_options(options, host)
            except UsageError as error:
                print(f"dcrload: error: {error}", file=sys.stderr)
                raise SystemExit(2) from None
            from loadtests.user import DcrUser

            timeout = client_timeout(
                self._settings.scenario.server.timeout, self._settings.time_scale
            )
            DcrUser.network_timeout = DcrUser.connection_timeout = timeout
        return self._settings

    # ------------------------------------------------------------------ test start

    def test_start(self) -> None:
        settings = self.settings()
        self.clock = DriverClock(time.time() + settings.warmup, settings.time_scale)
        if not self.is_worker:
            self._start_master(settings)
        if not self.is_master:
            self.fleet_or_build()

    def _start_master(self, settings: RunSettings) -> None:
        options = self.environment.parsed_options
        if self.is_master and options is not None:
            options.dcr_workers = self.workers()  # sent to the workers with the spawn jobs
        if not self.environment.stop_timeout:
            self.environment.stop_timeout = 5.0  # users finish the step they are in
        if not settings.admin_key:
            if fault_timeline(settings.scenario, settings.time_scale):
                log.warning("no --dcr-admin-key: the scenario's server-side faults are not played")
            return
        admin = MockAdmin(settings.host, settings.admin_key)
        scenario, scale = settings.scenario, settings.time_scale
        prepare_mock(
            admin, mock_settings(scenario, scale, settings.latency_ms, settings.throttle_rate)
        )
        steps = fault_timeline(scenario, scale)
        if steps and self.clock is not None:
            self.faults_greenlet = gevent.spawn(run_timeline, admin, self.clock, steps)

    def fleet_or_build(self) -> LiveFleet:
        """This process's fleet, built (and warmed up) on first use."""
        if self.fleet is None:
            settings = self.settings()
            if self.clock is None:
                self.clock = DriverClock(time.time() + settings.warmup, settings.time_scale)
            runner = self.runner
            index = max(0, getattr(runner, "worker_index", 0)) if self.is_worker else 0
            self.fleet = LiveFleet(
                scenario=settings.scenario,
                clock=self.clock,
                wire=settings.wire,
                statements=settings.statements,
                worker_index=index,
                worker_count=self.workers(),
                forward_for=settings.forward_for,
                run_tag=f"{settings.scenario.name}-{settings.seed}",
                seed=settings.seed,
            )
            self._warm_up(self.fleet)
        return self.fleet

    def _warm_up(self, fleet: LiveFleet) -> None:
        if not fleet.warm_members:
            return
        from locust.contrib.fasthttp import FastHttpSession

        from loadtests.user import DcrUser

        session = FastHttpSession(
            base_url=self.settings().host,
            request_event=self.environment.events.request,
            user=None,
            network_timeout=DcrUser.network_timeout,
            connection_timeout=DcrUser.connection_timeout,
            concurrency=16,
        )
        started = time.time()
        fleet.warm_up(session)
        if self.clock is not None and time.time() > self.clock.epoch:
            log.warning(
                "warm-up of %d instances took %.1f s, past driver time 0",
                len(fleet.warm_members),
                time.time() - started,
            )

    # ------------------------------------------------------------------ reports

    def report_to_master(self, data: dict[str, Any]) -> None:
        if self.fleet is not None:
            data[REPORT_KEY] = self.fleet.snapshot()

    def worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        snapshot = data.get(REPORT_KEY)
        if snapshot is not None:
            self.reports[client_id] = snapshot

    def measured(self) -> dict[str, Any]:
        snapshots = list(self.reports.values())
        if self.fleet is not None:
            snapshots.append(self.fleet.snapshot())
        return merge_snapshots(snapshots)

    # ------------------------------------------------------------------ the end

    def latency_p95(self) -> dict[str, float]:
        """Locust's 95th-percentile response time per endpoint (all API routes together)."""
        stats = self.runner.stats
        groups: dict[str, list[StatsEntry]] = {"register": [], "token": [], "api": []}
        for (name, _method), entry in stats.entries.items():
            key = "api" if name.startswith("api:") else name
            if key in groups:
                groups[key].append(entry)
        result = {}
        for key, entries in groups.items():
            if not entries:
                continue
            total = StatsEntry(stats, key, "", use_response_times_cache=False)
            for entry in entries:
                total.extend(entry)
            if total.num_requests:
                result[key] = float(total.get_response_time_percentile(0.95))
        return result

    def quitting(self) -> None:
        """Merge the counts, check the thresholds, write measured.json (master or local)."""
        if self.is_worker or self.written or self._settings is None or self.clock is None:
            return
        self.written = True
        settings = self.settings()
        measured = self.measured()
        summary = summary_of(measured_result(settings.scenario, settings.seed, measured))
        latency = self.latency_p95()
        values = measured_values(summary["endpoints"], summary["impact"], latency)
        breaches = check(settings.scenario.loadtest.thresholds, values)
        document = {
            "scenario": settings.scenario.name,
            "seed": settings.seed,
            "time_scale": settings.time_scale,
            "run_seconds": settings.run_seconds,
            "warmup_seconds": settings.warmup,
            "epoch": self.clock.epoch,
            "host": settings.host,
            "latency_p95_ms": latency,
            "threshold_values": values,
            "breaches": [_breach(b) for b in breaches],
            "measured": measured,
        }
        for breach in breaches:
            print(f"dcrload: threshold breached: {breach.describe()}", file=sys.stderr)
        if breaches:
            self.environment.process_exit_code = EXIT_THRESHOLDS
        if settings.out:
            out = Path(settings.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / MEASURED).write_text(json.dumps(document, indent=1) + "\n")


def _breach(breach: Any) -> dict[str, Any]:
    return {"name": breach.name, "limit": breach.limit, "value": breach.value}


def replay_of(environment: Environment) -> Replay:
    replay = getattr(environment, "dcrload_replay", None)
    if replay is None:
        replay = Replay(environment)
        environment.dcrload_replay = replay  # type: ignore[attr-defined]
    return replay
