"""The recommendation rules, the Pareto front and the run metrics, on constructed numbers."""

from __future__ import annotations

from typing import Any

import pytest

from dcrload.analysis.comparison import METRIC_KEYS, VariantStats, run_metrics
from dcrload.analysis.recommend import recommend
from dcrload.analysis.stats import mean_interval
from dcrload.results.compare_plots import pareto_front


def variant(
    label: str, peak: list[float], expired: float = 0, avoidable: float = 0
) -> VariantStats:
    """A variant whose every seed has the given peak and the same impact counts."""
    values: dict[str, list[float]] = {key: [0.0] * len(peak) for key in METRIC_KEYS}
    values["peak_token_rps"] = peak
    values["p99_token_rps"] = [p * 0.9 for p in peak]
    values["expired_token_calls"] = [float(expired)] * len(peak)
    values["avoidable_reauthentications"] = [float(avoidable)] * len(peak)
    return VariantStats(
        label=label,
        settings={"cohorts.0.refresh": label},
        seeds=list(range(len(peak))),
        values=values,
        intervals={k: mean_interval(v, floor=0.0) for k, v in values.items()},
        token_rps=[],
    )


def test_lowest_peak_among_the_qualifying_wins_with_a_clear_margin() -> None:
    advice = recommend(
        [
            variant("cheap-but-expired", [0.10, 0.11, 0.10], expired=3),
            variant("b", [0.30, 0.31, 0.29]),
            variant("a", [0.20, 0.21, 0.19]),
            variant("re-registers", [0.05, 0.05, 0.06], avoidable=40),
        ]
    )
    assert advice["recommended"]["variant"] == "a"
    assert advice["runner_up"]["variant"] == "b"
    assert advice["qualifying"] == ["a", "b"]
    margin = advice["margin"]
    assert margin["peak_token_rps"] == pytest.approx(0.1)
    assert margin["clear"] is True and margin["p_value"] < 0.05
    assert margin["intervals_overlap"] is False
    excluded = {e["variant"]: e["reasons"] for e in advice["excluded"]}
    assert "expired-token calls" in excluded["cheap-but-expired"][0]
    assert "avoidable re-authentications" in excluded["re-registers"][0]
    assert [c["variant"] for c in advice["cheaper_but_excluded"]] == [
        "re-registers",
        "cheap-but-expired",
    ]
    assert advice["verdict"].startswith("Recommended: a")
    assert "statistically clear" in advice["verdict"]


def test_a_single_expired_call_in_one_seed_disqualifies() -> None:
    leaky = variant("leaky", [0.1, 0.1, 0.1])
    leaky.values["expired_token_calls"][2] = 1.0
    advice = recommend([leaky, variant("safe", [0.5, 0.5, 0.6])])
    assert advice["recommended"]["variant"] == "safe"


def test_overlapping_noise_is_not_clear() -> None:
    # on common seeds the differences change sign: no clear winner
    advice = recommend([variant("a", [0.20, 0.30, 0.25]), variant("b", [0.22, 0.28, 0.27])])
    assert advice["recommended"]["variant"] == "a"
    assert advice["margin"]["clear"] is False
    assert "NOT statistically clear" in advice["verdict"]


def test_one_seed_is_never_clear() -> None:
    advice = recommend([variant("a", [0.2]), variant("b", [0.9])])
    assert advice["margin"]["p_value"] is None and advice["margin"]["clear"] is False
    assert "--seeds" in advice["verdict"]


def test_the_only_qualifying_variant_has_no_runner_up() -> None:
    advice = recommend([variant("a", [0.2, 0.2]), variant("x", [0.1, 0.1], expired=5)])
    assert advice["recommended"]["variant"] == "a"
    assert advice["runner_up"] is None and advice["margin"] is None
    assert "only variant" in advice["verdict"]


def test_no_qualifying_variant_means_no_recommendation() -> None:
    advice = recommend([variant("x", [0.1, 0.1], expired=50), variant("y", [0.3, 0.3], expired=2)])
    assert advice["recommended"] is None
    assert advice["closest"]["variant"] == "y"
    assert advice["verdict"].startswith("No variant qualifies")


def test_pareto_front_keeps_the_undominated_points() -> None:
    points = [(0.1, 50.0), (0.2, 0.0), (0.15, 10.0), (0.3, 0.0), (0.12, 60.0), (0.2, 5.0)]
    assert pareto_front(points) == [0, 2, 1]
    assert pareto_front([(1.0, 1.0), (1.0, 1.0)]) == [0, 1]  # ties dominate nobody


def summary(**impact: Any) -> dict[str, Any]:
    base = {
        "reauthentications": 0,
        "expired_token_calls": 0,
        "blocked_instance_seconds": 0.0,
        "credential_losses": 0,
        "app_updates": 0,
        "throttled_requests": 0,
    }
    return {
        "simulated_seconds": 2 * 86400.0,
        "fleet": {"initial_instances": 900, "installs": 100},
        "endpoints": {
            "token": {"requests": 8000, "peak_rps": 1.5, "p99_rps": 1.2, "mean_rps": 0.05},
            "register": {"requests": 100},
        },
        "impact": {**base, **impact},
        "engine": {"wall_seconds": 0.5},
    }


def test_run_metrics_per_instance_day_and_avoidable_reauthentications() -> None:
    metrics = run_metrics({"summary": summary(reauthentications=7, credential_losses=3)})
    assert metrics["token_per_instance_day"] == pytest.approx(8000 / (1000 * 2))
    assert metrics["avoidable_reauthentications"] == 4
    lossy = run_metrics({"summary": summary(reauthentications=2, credential_losses=3)})
    assert lossy["avoidable_reauthentications"] == 0
    updated = run_metrics(
        {"summary": summary(reauthentications=5, credential_losses=1, app_updates=4)}
    )
    assert updated["avoidable_reauthentications"] == 0
