"""The recommendation: the cheapest variant that never hurts a user.

Rules (also in the README, "Choosing a refresh strategy"):

1. A variant **qualifies** when, summed over all its seeds, it made no expired-token calls
   (API calls the server refused because the token had expired) and no avoidable
   re-authentications (re-authentications beyond one per credential loss and per app
   update that replaced a refused statement; see `comparison.unavoidable_reauthentications`).
   Zero means zero: one expired call in one seed disqualifies.
2. Among the qualifying variants, the one with the **lowest mean peak token load**
   (requests/s in the busiest time bin) is recommended; ties go to the lower p99.
3. The **margin** is the difference of mean peaks to the next qualifying variant. It is
   **statistically clear** when a two-sided paired t-test over the seeds gives p < 0.05:
   every variant runs on the same seeds, and a seed fixes every instance's random streams
   (common random numbers), so the test is on the seed-by-seed differences (Welch's test
   when the two ran on different seeds).
   Whether the two 95 % intervals overlap is reported too (non-overlapping intervals
   imply p < 0.05; overlapping ones do not imply the opposite). With one seed nothing is
   clear.

When no variant qualifies there is no recommendation; the variant with the fewest
expired-token calls plus avoidable re-authentications (then the lowest peak) is named as
the closest, so the reader knows where to look next.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from dcrload.analysis.comparison import VariantStats, number
from dcrload.analysis.stats import LEVEL, Interval, paired_test, welch_test

ALPHA = 0.05
"""Significance level of "statistically clear"."""

PEAK = "peak_token_rps"


def reasons_against(variant: VariantStats) -> list[str]:
    """Why a variant does not qualify ([] if it does)."""
    reasons = []
    expired = variant.total("expired_token_calls")
    if expired > 0:
        reasons.append(
            f"expired-token calls: {number(variant.mean('expired_token_calls'))} per run"
        )
    avoidable = variant.total("avoidable_reauthentications")
    if avoidable > 0:
        reasons.append(
            "avoidable re-authentications:"
            f" {number(variant.mean('avoidable_reauthentications'))} per run"
        )
    return reasons


def _rank(variant: VariantStats) -> tuple[float, float, str]:
    return (variant.mean(PEAK), variant.mean("p99_token_rps"), variant.label)


def _interval(interval: Interval) -> dict[str, Any]:
    return {
        "mean": interval.mean,
        "ci95_low": interval.low if interval.known else None,
        "ci95_high": interval.high if interval.known else None,
    }


def _entry(variant: VariantStats) -> dict[str, Any]:
    return {
        "variant": variant.label,
        "settings": variant.settings,
        "peak_token_rps": _interval(variant.intervals[PEAK]),
        "p99_token_rps": _interval(variant.intervals["p99_token_rps"]),
        "token_per_instance_day": _interval(variant.intervals["token_per_instance_day"]),
    }


def recommend(stats: Sequence[VariantStats]) -> dict[str, Any]:
    """The recommendation as a JSON-ready dict; `verdict` is the sentence to print."""
    qualifying = sorted((v for v in stats if not reasons_against(v)), key=_rank)
    excluded = [
        {
            "variant": v.label,
            "reasons": reasons_against(v),
            "peak_token_rps": v.mean(PEAK),
            "expired_token_calls": v.mean("expired_token_calls"),
            "avoidable_reauthentications": v.mean("avoidable_reauthentications"),
        }
        for v in stats
        if reasons_against(v)
    ]
    seeds = sorted({s for v in stats for s in v.seeds})
    result: dict[str, Any] = {
        "rule": (
            "lowest mean peak token requests/s among the variants with no expired-token calls"
            " and no avoidable re-authentications in any seed; the margin to the next is"
            f" clear when a paired t-test over the common seeds gives p < {ALPHA}"
        ),
        "confidence_level": LEVEL,
        "seeds": seeds,
        "recommended": None,
        "runner_up": None,
        "margin": None,
        "qualifying": [v.label for v in qualifying],
        "excluded": excluded,
        "cheaper_but_excluded": [],
        "closest": None,
        "verdict": "",
    }
    if not qualifying:
        closest = min(
            stats,
            key=lambda v: (
                v.mean("expired_token_calls") + v.mean("avoidable_reauthentications"),
                *_rank(v),
            ),
        )
        result["closest"] = _entry(closest)
        result["verdict"] = (
            "No variant qualifies: every one made expired-token calls or avoidable"
            f" re-authentications. Closest: {closest.label}"
            f" ({'; '.join(reasons_against(closest))})."
        )
        return result

    best = qualifying[0]
    result["recommended"] = _entry(best)
    cheaper = sorted(
        (v for v in stats if reasons_against(v) and v.mean(PEAK) < best.mean(PEAK)), key=_rank
    )
    result["cheaper_but_excluded"] = [
        {"variant": v.label, "peak_token_rps": v.mean(PEAK), "reasons": reasons_against(v)}
        for v in cheaper
    ]
    peak = best.intervals[PEAK]
    sentence = f"Recommended: {best.label} — peak {number(peak.mean)} token req/s" + (
        f" (95 % CI [{number(peak.low)}, {number(peak.high)}])" if peak.known else ""
    )
    if len(qualifying) == 1:
        sentence += "; it is the only variant that qualifies."
    else:
        other = qualifying[1]
        paired = best.seeds == other.seeds
        if paired:  # common random numbers: the difference, seed by seed
            pair = paired_test(other.values[PEAK], best.values[PEAK])
            test = welch_test(best.values[PEAK], other.values[PEAK])
            test_p, test_name = pair.p, "paired t-test on common random numbers"
        else:
            test = welch_test(best.values[PEAK], other.values[PEAK])
            test_p, test_name = test.p, "Welch's t-test"
        margin = other.mean(PEAK) - best.mean(PEAK)
        percent = 100.0 * margin / other.mean(PEAK) if other.mean(PEAK) else 0.0
        overlap = peak.overlaps(other.intervals[PEAK])
        clear = test_p is not None and test_p < ALPHA
        result["runner_up"] = _entry(other)
        result["margin"] = {
            "peak_token_rps": margin,
            "percent": percent,
            "test": test_name,
            "welch_t": _finite(test.t),
            "welch_df": test.df,
            "welch_p": test.p,
            "p_value": test_p,
            "intervals_overlap": overlap,
            "clear": clear,
        }
        if paired:
            diff = pair.difference
            result["margin"]["paired_difference"] = {
                "mean": diff.mean,
                "low": diff.mean - diff.half_width if diff.known else None,
                "high": diff.mean + diff.half_width if diff.known else None,
                "t": _finite(pair.t),
            }
        sentence += (
            f", {number(margin)} req/s ({percent:.1f} %) below the next, {other.label}"
            f" ({number(other.mean(PEAK))})"
        )
        short = "paired p" if paired else "Welch p"
        if test_p is None:
            sentence += "; one seed cannot tell them apart: run --seeds 3 or more."
        elif clear:
            sentence += f"; the difference is statistically clear ({short} {_p(test_p)})."
        else:
            sentence += (
                f"; the difference is NOT statistically clear ({short} {_p(test_p)}):"
                " treat them as equivalent or run more seeds."
            )
    if cheaper:
        sentence += f" Lower peaks, but excluded — {_cheaper_text(cheaper)}."
    result["verdict"] = sentence
    return result


def _cheaper_text(cheaper: Sequence[VariantStats]) -> str:
    """ "expired-token calls per run: okta 212, authlib 173; avoidable re-authentications ..."."""
    parts = []
    for key, what in (
        ("expired_token_calls", "expired-token calls"),
        ("avoidable_reauthentications", "avoidable re-authentications"),
    ):
        named = [f"{v.label} {number(v.mean(key))}" for v in cheaper if v.total(key) > 0]
        if named:
            parts.append(f"{what} per run: {', '.join(named)}")
    return "; ".join(parts)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isinf(value) else value


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"
