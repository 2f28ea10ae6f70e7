"""What the worker processes of one mock share (``dcrload mock --workers N``), exactly.

A device's requests may land on any worker (the kernel hands each new connection to
whichever worker accepts first), so everything that decides an answer is shared through
SQLite files, not kept per process:

- clients, profiles and revocations: the store file itself (`Store` in shared mode reads
  what is not in its cache, and re-reads revocations when another worker wrote);
- the run-time settings the admin API changes (TTL and jitter, throttle settings, quirks,
  faults, resets): one JSON row of the store's ``meta`` table, `Runtime`; each worker
  re-reads it when SQLite's ``data_version`` says another connection committed;
- the throttle's token buckets: a second file (``<store>-shared``), one row per device,
  read and written in one ``BEGIN IMMEDIATE`` transaction per request, so two workers
  never both spend a device's last token (`SharedThrottle`);
- the request counters: each worker writes its own into that second file every
  `STATS_EVERY` seconds and whenever ``/admin/stats`` is asked, which sums them
  (`SharedStats`): a count from another worker is at most that old.

The second file is separate so that the per-request bucket writes do not change the
store's ``data_version`` and make every worker re-read the settings on every request.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from dcrload.core.throttle import TokenBucket
from loadtests.mockserver.faults import Faults, Latency, Outage
from loadtests.mockserver.settings import ThrottleSettings
from loadtests.mockserver.store import private_file

STATS_EVERY = 0.2  # seconds between two writes of a worker's counters
RUNTIME = "runtime"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, level REAL, since REAL);
CREATE TABLE IF NOT EXISTS stats (worker INTEGER PRIMARY KEY, snapshot TEXT NOT NULL);
"""


def shared_path(store_path: str) -> str:
    return store_path + "-shared"


def connect(path: str) -> sqlite3.Connection:
    private_file(path)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=5000")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    return db


# --------------------------------------------------------------------------- runtime


def runtime_of(state: Any) -> dict[str, Any]:
    """The admin-changeable part of a `MockState`, as JSON-ready values."""
    faults: Faults = state.faults
    outage = faults.outage
    return {
        "ttl": state.ttl,
        "ttl_jitter": state.ttl_jitter,
        "quirks": sorted(state.quirks),
        "throttle": dataclasses.asdict(state.throttle_settings),
        "outage": None
        if outage is None
        else {"mode": outage.mode, "until": _finite(outage.until), "delay": outage.delay},
        "latency": None if faults.latency is None else dataclasses.asdict(faults.latency),
        "error_rate": faults.error_rate,
        "error_status": faults.error_status,
        "stats_epoch": state.stats_epoch,
        "data_epoch": state.data_epoch,
    }


def _finite(until: float) -> float | None:
    return None if until == float("inf") else until


def apply_runtime(state: Any, runtime: dict[str, Any]) -> None:
    """Make `state` say what another worker published (in place: a hang sees it end)."""
    state.ttl, state.ttl_jitter = runtime["ttl"], runtime["ttl_jitter"]
    state.quirks = set(runtime["quirks"])
    throttle = ThrottleSettings(**runtime["throttle"])
    if throttle != state.throttle_settings:
        state.throttle_settings = throttle
        state.throttle.configure(throttle.rate, throttle.burst)
    faults: Faults = state.faults
    outage = runtime["outage"]
    new_outage = (
        None
        if outage is None
        else Outage(
            outage["mode"],
            float("inf") if outage["until"] is None else outage["until"],
            outage["delay"],
        )
    )
    if (faults.outage is None) != (new_outage is None) or (
        new_outage is not None and faults.outage is not None and new_outage != faults.outage
    ):
        faults.outage = new_outage
    latency = runtime["latency"]
    faults.latency = None if latency is None else Latency(**latency)
    faults.error_rate, faults.error_status = runtime["error_rate"], runtime["error_status"]
    if runtime["stats_epoch"] != state.stats_epoch:
        state.stats_epoch = runtime["stats_epoch"]
        state.stats.clear()
    if runtime["data_epoch"] != state.data_epoch:
        state.data_epoch = runtime["data_epoch"]
        state.store.clients.clear()  # a reset with data: forget the cached clients


# --------------------------------------------------------------------------- throttle


class SharedThrottle:
    """`Throttle`'s interface over the shared buckets file: exact across workers."""

    def __init__(self, db: sqlite3.Connection, rate: float, burst: int, clock: Callable[[], float]):
        self._db = db
        self._clock = clock
        self.configure(rate, burst)

    def configure(self, rate: float, burst: int) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("throttle rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, float(burst)

    def reset(self) -> None:
        self._db.execute("DELETE FROM buckets")

    def allow(self, key: str) -> bool:
        now = self._clock()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT level, since FROM buckets WHERE key = ?", (key,)).fetchone()
            bucket = TokenBucket(self.burst, now)
            if row is not None:
                bucket.level, bucket.since = row
            allowed = bucket.take(now, self.rate, self.burst)
            db.execute(
                "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?)", (key, bucket.level, bucket.since)
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return allowed


# --------------------------------------------------------------------------- stats


class SharedStats:
    """Each worker's counters in one row; the sum on demand."""

    def __init__(self, db: sqlite3.Connection, worker: int) -> None:
        self._db = db
        self.worker = worker

    def write(self, snapshot: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO stats VALUES (?, ?)", (self.worker, json.dumps(snapshot))
        )

    def total(self) -> dict[str, Any]:
        """The sum of every worker's last written counters, and each worker's own total."""
        total: dict[str, Any] = {"requests": {}, "workers": {}}
        for worker, text in self._db.execute("SELECT worker, snapshot FROM stats"):
            snapshot = json.loads(text)
            for route, by_status in snapshot["requests"].items():
                into = total["requests"].setdefault(route, {})
                for status, n in by_status.items():
                    into[status] = into.get(status, 0) + n
            for name in ("clients_registered", "tokens_issued", "shed"):
                total[name] = total.get(name, 0) + snapshot[name]
            total["workers"][str(worker)] = sum(
                n for by_status in snapshot["requests"].values() for n in by_status.values()
            )
        total["requests"] = {
            route: dict(sorted(by_status.items(), key=lambda kv: int(kv[0])))
            for route, by_status in sorted(total["requests"].items())
        }
        return total
