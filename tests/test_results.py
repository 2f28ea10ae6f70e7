"""`dcrload.results.files`: result folders written whole or not at all, and the rate figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrload.core.errors import UsageError
from dcrload.results.files import (
    ResultsDir,
    endpoint_summary,
    percentile,
    rate_stats,
    read_timeseries,
    write_timeseries,
)


def test_results_dir_moves_complete_files_into_place(tmp_path: Path) -> None:
    final = tmp_path / "run"
    with ResultsDir(final) as staging:
        assert staging != final
        assert staging.parent == tmp_path
        (staging / "summary.json").write_text("{}")
        assert not final.exists()
    assert (final / "summary.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_exception_inside_leaves_no_folder(tmp_path: Path) -> None:
    final = tmp_path / "deeper" / "run"
    with pytest.raises(RuntimeError), ResultsDir(final) as staging:
        (staging / "summary.json").write_text("{}")
        raise RuntimeError("the simulation broke")
    assert not final.exists()
    assert list(final.parent.iterdir()) == []  # no hidden staging folder either


def test_keyboard_interrupt_leaves_no_folder(tmp_path: Path) -> None:
    final = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt), ResultsDir(final):
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_an_empty_existing_folder_is_reused(tmp_path: Path) -> None:
    final = tmp_path / "run"
    final.mkdir()
    with ResultsDir(final) as staging:
        (staging / "a").write_text("x")
    assert (final / "a").read_text() == "x"


def test_a_non_empty_folder_is_never_overwritten(tmp_path: Path) -> None:
    final = tmp_path / "run"
    final.mkdir()
    (final / "keep.txt").write_text("mine")
    with pytest.raises(UsageError, match="not empty"), ResultsDir(final):
        pass
    assert (final / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_percentile_by_hand() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 0.0) == 10.0
    assert percentile(values, 1.0) == 50.0
    assert percentile(values, 0.5) == 30.0
    # position 0.99 * 4 = 3.96: 40 + 0.96 * (50 - 40)
    assert percentile(values, 0.99) == pytest.approx(49.6)
    # position 0.25 * 4 = 1.0 exactly
    assert percentile([3.0, 1.0, 2.0, 5.0, 4.0], 0.25) == 2.0
    # position 0.9 * 3 = 2.7: 3 + 0.7 * (100 - 3)
    assert percentile([1.0, 2.0, 3.0, 100.0], 0.9) == pytest.approx(70.9)
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.99) == 0.0


def test_rate_stats_by_hand() -> None:
    # four 60 s bins over 240 s: 6, 0, 12, 30 requests
    stats = rate_stats([6, 0, 12, 30], 60.0, 240.0)
    assert stats["mean_rps"] == pytest.approx(48 / 240)
    assert stats["peak_rps"] == pytest.approx(0.5)
    # rates 0, 0.1, 0.2, 0.5; position 0.99 * 3 = 2.97: 0.2 + 0.97 * 0.3
    assert stats["p99_rps"] == pytest.approx(0.491)


def test_rate_stats_mean_uses_the_duration_not_the_bins() -> None:
    # a last bin cut short: 90 s of run in 60 s bins
    stats = rate_stats([30, 30], 60.0, 90.0)
    assert stats["mean_rps"] == pytest.approx(60 / 90)


def test_endpoint_summary_adds_outcomes_and_fills_every_endpoint() -> None:
    series = [("token", "201", [1, 2, 3]), ("token", "503", [0, 4, 0]), ("api", "200", [5, 5, 5])]
    summary = endpoint_summary(series, 10.0, 30.0)
    assert set(summary) == {"register", "token", "api"}
    assert summary["token"]["requests"] == 10
    assert summary["token"]["by_outcome"] == {"201": 6, "503": 4}
    assert summary["token"]["peak_rps"] == pytest.approx(0.6)
    assert summary["register"] == {
        "requests": 0,
        "by_outcome": {},
        "mean_rps": 0.0,
        "peak_rps": 0.0,
        "p99_rps": 0.0,
    }


def test_timeseries_round_trip_keeps_every_non_zero_count(tmp_path: Path) -> None:
    series = [("token", "201", [1, 0, 3]), ("api", "200", [0, 7, 0])]
    path = tmp_path / "timeseries.csv"
    write_timeseries(path, series, 300.0)
    assert path.read_text().splitlines()[0] == "bin_start_s,endpoint,outcome,requests"
    assert read_timeseries(path) == [
        (0.0, "token", "201", 1),
        (300.0, "api", "200", 7),
        (600.0, "token", "201", 3),
    ]
