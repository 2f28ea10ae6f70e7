"""The prediction check: does the load a test measured match what the simulation predicted?

`compare` takes the per-bin request counts of the prediction (the simulation of the same
scaled scenario) and of the load test, and answers per endpoint with the totals, their
relative error and the largest per-bin error. An endpoint passes when its totals differ by
at most ``max(tolerance × predicted, slack)``: the relative tolerance is the check, the
small absolute `slack` keeps an endpoint with a handful of requests (two registrations
predicted, three measured) from failing on counting noise. The check passes when every
endpoint does. `dcrload.results.prediction_plot` draws predicted against measured.

Both sides bin by *simulated* time with the scenario's bin width, so a bin of the load test
holds exactly the requests the prediction put in it. Pure functions; no plotting here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

ENDPOINTS = ("register", "token", "api")
EXIT_PREDICTION = 4
"""Exit status of `dcrload loadtest` when the prediction check fails (thresholds kept)."""
MIN_BIN_REQUESTS = 10
"""Bins with fewer requests on both sides are left out of the per-bin error."""

Series = Iterable[tuple[str, str, Sequence[int]]]


def per_endpoint(series: Series, bins: int) -> dict[str, list[int]]:
    """All outcomes of each endpoint added up, bin by bin (padded or cut to `bins`)."""
    result = {e: [0] * bins for e in ENDPOINTS}
    for endpoint, _outcome, row in series:
        acc = result.setdefault(endpoint, [0] * bins)
        for index, count in enumerate(row[:bins]):
            acc[index] += count
    return result


def relative_error(predicted: float, measured: float) -> float:
    """|measured − predicted| / predicted (the difference itself when nothing was predicted)."""
    return abs(measured - predicted) / max(predicted, 1.0)


def compare(
    predicted: Series,
    measured: Series,
    *,
    bins: int,
    bin_width: float,
    tolerance: float,
    slack: int = 0,
) -> dict[str, Any]:
    """The comparison.json document: totals, relative errors, largest per-bin errors, verdict."""
    want = per_endpoint(predicted, bins)
    got = per_endpoint(measured, bins)
    endpoints: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        p_row, m_row = want[endpoint], got[endpoint]
        p, m = sum(p_row), sum(m_row)
        worst: dict[str, Any] | None = None
        for index, (pb, mb) in enumerate(zip(p_row, m_row, strict=True)):
            if max(pb, mb) < MIN_BIN_REQUESTS:
                continue
            error = relative_error(pb, mb)
            if worst is None or error > worst["relative_error"]:
                worst = {
                    "bin_start_s": index * bin_width,
                    "predicted": pb,
                    "measured": mb,
                    "relative_error": round(error, 4),
                }
        endpoints[endpoint] = {
            "predicted": p,
            "measured": m,
            "relative_error": round(relative_error(p, m), 4),
            "passed": abs(m - p) <= max(tolerance * p, slack),
            "largest_bin_error": worst,
            "predicted_per_bin": p_row,
            "measured_per_bin": m_row,
        }
    return {
        "tolerance": tolerance,
        "slack": slack,
        "bin_seconds": bin_width,
        "passed": all(e["passed"] for e in endpoints.values()),
        "endpoints": endpoints,
    }


def summary_lines(comparison: dict[str, Any]) -> list[str]:
    """One line per endpoint: totals, relative error, largest per-bin error, verdict."""
    lines = []
    for endpoint in ENDPOINTS:
        data = comparison["endpoints"][endpoint]
        worst = data["largest_bin_error"]
        per_bin = (
            f"largest bin error {worst['relative_error']:.1%} at {worst['bin_start_s']:g} s"
            if worst
            else "no bin with enough requests"
        )
        lines.append(
            f"{endpoint:>8}: predicted {data['predicted']:>7,} measured {data['measured']:>7,}"
            f"  error {data['relative_error']:6.1%}  {per_bin}"
            f"  {'ok' if data['passed'] else 'OUT OF TOLERANCE'}"
        )
    return lines
