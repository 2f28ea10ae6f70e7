"""Result files: `summary.json` and `timeseries.csv`, written whole or not at all.

A run writes into a hidden staging folder beside its final one and renames it into place
only when every file is complete (`ResultsDir`), so an interrupted run leaves complete
result files or none. The formats are the contract in DESIGN.md and are shared by
`dcrload simulate` and `dcrload loadtest`.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

ENDPOINTS = ("register", "token", "api")


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists and is not a zombie (a zombie holds no lock nor port)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat[stat.rindex(")") + 2] in "ZX":
            return False
    return True


def default_out(name: str, root: Path = Path("results")) -> Path:
    """`results/<scenario>-<UTC timestamp>/`."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return root / f"{name}-{stamp}"


STAGING_MARK = ".staging-"
"""Staging folders are `.<final name>.staging-<owner pid>-<random>`, beside the final one."""

_STAGING = re.compile(r"^\..+\.staging-(\d+)-[0-9a-z_]+$")


class ResultsDir:
    """Write into a staging folder; on clean exit move it to `final`, else delete it.

    The staging folder's name carries the pid of the run that owns it, so a run killed
    before it could clean up (SIGKILL, a power cut) leaves a folder the next run in the
    same parent folder recognises and removes (`remove_dead_staging`); the folders of runs
    still alive are left alone.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final

    def __enter__(self) -> Path:
        if self.final.exists() and any(self.final.iterdir()):
            from dcrload.core.errors import UsageError

            raise UsageError(f"{self.final}: already exists and is not empty")
        self.final.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_staging(self.final.parent)
        # named before it is made, so that a stop signal arriving between the folder's
        # creation and the end of __enter__ (which `with` does not clean up after: seen
        # once in CI, the process preempted right after mkdir) cannot leave it behind
        name = f".{self.final.name}{STAGING_MARK}{os.getpid()}-{secrets.token_hex(6)}"
        self.path = self.final.parent / name
        try:
            self.path.mkdir(mode=0o700)
        except OSError:
            raise  # not made here: nothing to take back
        except BaseException:  # a stop signal once it was made
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        return self.path

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return
        if self.final.exists():
            self.final.rmdir()
        os.replace(self.path, self.final)


def remove_dead_staging(parent: Path) -> list[Path]:
    """Remove the staging folders in `parent` whose owning run is no longer alive."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _STAGING.match(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        if pid_alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def rate_stats(per_bin: Sequence[int], bin_width: float, duration: float) -> dict[str, float]:
    """Mean, peak and 99th-percentile requests per second from per-bin counts."""
    rates = [count / bin_width for count in per_bin]
    mean = sum(per_bin) / duration if duration > 0 else 0.0
    return {
        "mean_rps": mean,
        "peak_rps": max(rates, default=0.0),
        "p99_rps": percentile(rates, 0.99),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def endpoint_summary(
    series: Iterable[tuple[str, str, Sequence[int]]], bin_width: float, duration: float
) -> dict[str, Any]:
    """The `endpoints` section: requests, by_outcome and rates for each endpoint."""
    bins = max(1, math.ceil(duration / bin_width - 1e-9))
    result: dict[str, Any] = {}
    totals: dict[str, list[int]] = {e: [0] * bins for e in ENDPOINTS}
    outcomes: dict[str, dict[str, int]] = {e: {} for e in ENDPOINTS}
    for endpoint, outcome, row in series:
        per_bin = totals.setdefault(endpoint, [0] * bins)
        for index, count in enumerate(row):
            per_bin[index] += count
        outcomes.setdefault(endpoint, {})[outcome] = outcomes.get(endpoint, {}).get(
            outcome, 0
        ) + sum(row)
    for endpoint, per_bin in totals.items():
        result[endpoint] = {
            "requests": sum(per_bin),
            "by_outcome": dict(sorted(outcomes[endpoint].items())),
            **rate_stats(per_bin, bin_width, duration),
        }
    return result


def write_timeseries(
    path: Path, series: Iterable[tuple[str, str, Sequence[int]]], bin_width: float
) -> None:
    """Tidy CSV: one row per bin, endpoint and outcome with a non-zero count."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["bin_start_s", "endpoint", "outcome", "requests"])
        rows = []
        for endpoint, outcome, row in series:
            for index, count in enumerate(row):
                if count:
                    rows.append((index * bin_width, endpoint, outcome, count))
        rows.sort(key=lambda r: (r[0], r[1], r[2]))
        for start, endpoint, outcome, count in rows:
            writer.writerow([f"{start:g}", endpoint, outcome, count])


def read_timeseries(path: Path) -> list[tuple[float, str, str, int]]:
    with path.open(newline="") as handle:
        return [
            (float(r["bin_start_s"]), r["endpoint"], r["outcome"], int(r["requests"]))
            for r in csv.DictReader(handle)
        ]


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
