"""The prediction check: does the load a test measured match what the simulation predicted?

`compare` takes the per-bin request counts of the prediction (the simulation of the same
scaled scenario) and of the load test, and answers per endpoint with the totals, their
relative error and the largest per-bin error. An endpoint passes when its totals differ by
at most ``max(tolerance × predicted, slack)``: the relative tolerance is the check, the
small absolute `slack` keeps an endpoint with a handful of requests (two registrations
predicted, three measured) from failing on counting noise. The check passes when every
endpoint does. `dcrload.results.prediction_plot` draws predicted against measured.

Counts alone would call a run against a dead port or a service answering 404 everywhere
a pass if the totals happened to match, so the check also compares *outcomes*: per
endpoint, requests by class (2xx, 401, other 4xx, 429, 5xx, no answer). A class whose
measured count is off the predicted one by more than the same allowance fails the
endpoint's `outcomes_passed`, and `outcome_reason` names the first such endpoint and class.

Both sides bin by *simulated* time with the scenario's bin width, so a bin of the load test
holds exactly the requests the prediction put in it. Pure functions; no plotting here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

ENDPOINTS = ("register", "token", "api")
EXIT_PREDICTION = 4
"""Exit status of `dcrload loadtest` when the counts are off the prediction (thresholds kept)."""
EXIT_OUTCOMES = 5
"""Exit status when the service answered otherwise than predicted (404s, refusals, errors)."""
EXIT_BEHIND = 6
"""Exit status when the load generator fell behind: the measurement is not the scenario's."""
CLASSES = ("2xx", "401", "4xx", "429", "5xx", "no answer")
"""Outcome classes the check compares, per endpoint."""
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


def outcome_class(outcome: str) -> str:
    """The class of an outcome label: "201" → "2xx", "404" → "4xx", "timeout" → "no answer"."""
    if not outcome.isdigit():
        return "no answer"
    status = int(outcome)
    if 200 <= status < 300:
        return "2xx"
    if status in (401, 429):
        return str(status)
    if 400 <= status < 500:
        return "4xx"
    return "5xx" if status >= 500 else "no answer"


def by_class(series: Series) -> dict[str, dict[str, int]]:
    """Requests per endpoint and outcome class."""
    result: dict[str, dict[str, int]] = {e: dict.fromkeys(CLASSES, 0) for e in ENDPOINTS}
    for endpoint, outcome, row in series:
        classes = result.setdefault(endpoint, dict.fromkeys(CLASSES, 0))
        classes[outcome_class(outcome)] += sum(row)
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
    endpoints_checked: Sequence[str] = ENDPOINTS,
) -> dict[str, Any]:
    """The comparison.json document: totals, outcome classes, relative errors, largest
    per-bin errors, verdicts. Only `endpoints_checked` count for the verdicts (a load test
    that sends no API call checks register and token)."""
    predicted, measured = list(predicted), list(measured)
    want = per_endpoint(predicted, bins)
    got = per_endpoint(measured, bins)
    want_classes, got_classes = by_class(predicted), by_class(measured)
    endpoints: dict[str, Any] = {}
    reason = ""
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
        allowed = max(tolerance * p, slack)
        classes = {
            c: {"predicted": want_classes[endpoint][c], "measured": got_classes[endpoint][c]}
            for c in CLASSES
        }
        off = [c for c, n in classes.items() if abs(n["measured"] - n["predicted"]) > allowed]
        checked = endpoint in endpoints_checked
        if checked and off and not reason:
            worst_class = max(
                off, key=lambda c: abs(classes[c]["measured"] - classes[c]["predicted"])
            )
            n = classes[worst_class]
            reason = (
                f"{endpoint}: {n['measured']:,} answers {worst_class} where the prediction"
                f" expected {n['predicted']:,}"
            )
        endpoints[endpoint] = {
            "checked": checked,
            "predicted": p,
            "measured": m,
            "relative_error": round(relative_error(p, m), 4),
            "passed": not checked or abs(m - p) <= allowed,
            "outcomes": classes,
            "outcomes_passed": not checked or not off,
            "largest_bin_error": worst,
            "predicted_per_bin": p_row,
            "measured_per_bin": m_row,
        }
    return {
        "tolerance": tolerance,
        "slack": slack,
        "bin_seconds": bin_width,
        "passed": all(e["passed"] for e in endpoints.values()),
        "outcomes_passed": all(e["outcomes_passed"] for e in endpoints.values()),
        "outcome_reason": reason,
        "endpoints": endpoints,
    }


def summary_lines(comparison: dict[str, Any]) -> list[str]:
    """One line per endpoint: totals, relative error, largest per-bin error, verdict."""
    lines = []
    for endpoint in ENDPOINTS:
        data = comparison["endpoints"][endpoint]
        if not data.get("checked", True):
            lines.append(f"{endpoint:>8}: not sent (the profile has no API leg)")
            continue
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
            + ("" if data.get("outcomes_passed", True) else ", OUTCOMES DIFFER")
        )
    return lines
