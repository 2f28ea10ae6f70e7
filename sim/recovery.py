"""The recovery baseline: the same scenario and seed simulated without its fault windows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcrload.analysis.recovery import dcr_load, fault_windows, recovery_entries, without_windows
from dcrload.model.counts import RunResult
from sim.fleet import simulate


def baseline_run(
    result: RunResult, progress: Callable[[float], None] | None = None, **options: Any
) -> RunResult | None:
    """The same scenario and seed without its fault windows (None when it has none);
    `options` are `simulate`'s (`jobs`, `sample`, `dask`: a sampled run's baseline is the
    same sample)."""
    if not fault_windows(result.scenario):
        return None
    scenario = without_windows(result.scenario)
    return simulate(scenario, seed=result.seed, progress=progress, **options)


def recovery_report(
    result: RunResult,
    progress: Callable[[float], None] | None = None,
    baseline: RunResult | None = None,
) -> list[dict[str, Any]]:
    """One entry per fault window with its recovery time; runs the baseline unless given."""
    if not fault_windows(result.scenario):
        return []
    if baseline is None:
        baseline = baseline_run(result, progress)
    assert baseline is not None
    return recovery_entries(
        result.scenario,
        dcr_load(result.counters),
        dcr_load(baseline.counters),
        result.counts,
        baseline.counts,
    )
