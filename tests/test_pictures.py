"""Every picture answers its question at a glance: a golden-image-free structural check.

Each report of the shipped scenarios (small fleets), the three compare pictures and the
load test's comparison.png are built as matplotlib figures and drawn; the test then asserts
on their structure: every panel with data has its axis labels, no text artist (legend,
counter, label, title) lies over a drawn line, legend entries are exactly the labelled
lines of their panel, and no matplotlib warning (e.g. "No artists with labels") is raised.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from dcrload.analysis.comparison import METRICS, VariantStats
from dcrload.analysis.stats import mean_interval
from dcrload.model.scenario import load_scenario
from dcrload.results import compare_plots, style
from dcrload.results.prediction_plot import comparison_figure
from dcrload.results.report import report_figure

pytestmark = pytest.mark.xdist_group("pictures")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))
SMALL = {
    "launch-day": ["fleet.installs.total=150"],
    "capacity-launch": ["fleet.installs.total=300"],  # its 6,000 installs queue: events
}


# ------------------------------------------------------------------ the structural check


def _segments(line: Line2D) -> np.ndarray:
    """The drawn segments of a line in display pixels, shape (n, 4): x0, y0, x1, y1."""
    xs, ys = (np.asarray(v, dtype=float) for v in line.get_data())
    if len(xs) < 2:
        return np.empty((0, 4))
    drawstyle = line.get_drawstyle()
    if drawstyle in ("steps-post", "steps-pre"):
        xx, yy = np.repeat(xs, 2)[1:], np.repeat(ys, 2)[:-1]
        if drawstyle == "steps-pre":
            xx, yy = np.repeat(xs, 2)[:-1], np.repeat(ys, 2)[1:]
        xs, ys = xx, yy
    shown = line.get_transform().transform(np.column_stack([xs, ys]))
    segments = np.hstack([shown[:-1], shown[1:]])
    return segments[np.isfinite(segments).all(axis=1)]


def _collection_segments(collection: LineCollection) -> np.ndarray:
    rows = []
    transform = collection.get_transform()
    for path in collection.get_segments():
        shown = transform.transform(np.asarray(path, dtype=float))
        rows.append(np.hstack([shown[:-1], shown[1:]]))
    return np.vstack(rows) if rows else np.empty((0, 4))


def _clip(segments: np.ndarray, box: Any) -> np.ndarray:
    """Liang–Barsky for many segments: the parts inside `box` (rows outside are dropped)."""
    x0, y0, x1, y1 = segments.T
    dx, dy = x1 - x0, y1 - y0
    low = np.zeros(len(segments))
    high = np.ones(len(segments))
    keep = np.ones(len(segments), dtype=bool)
    for p, q in ((-dx, x0 - box.x0), (dx, box.x1 - x0), (-dy, y0 - box.y0), (dy, box.y1 - y0)):
        parallel = p == 0
        keep &= ~(parallel & (q < 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
        low = np.where(~parallel & (p < 0), np.maximum(low, t), low)
        high = np.where(~parallel & (p > 0), np.minimum(high, t), high)
    keep &= low <= high
    return np.column_stack([x0 + low * dx, y0 + low * dy, x0 + high * dx, y0 + high * dy])[keep]


def _texts(figure: Figure) -> list[Text]:
    return [
        t
        for t in figure.findobj(Text)
        if t.get_visible() and t.get_text().strip() and t.get_figure() is figure
    ]


def _words(labels: list[Text]) -> bool:
    """Category tick labels (variant names) name the axis as well as a label would."""
    return any(any(c.isalpha() for c in t.get_text()) for t in labels)


def check_structure(figure: Figure) -> None:
    """Axis labels present, no text over a line, legend entries = labelled artists."""
    figure.set_dpi(60)  # extents scale with the figure; a coarse raster draws faster
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    plotted = [a for a in figure.axes if a.lines or a.collections or a.patches]
    assert plotted, "a picture without a single plotted panel"
    for axis in plotted:
        assert axis.get_ylabel().strip() or _words(axis.get_yticklabels()), axis.get_title()
        if axis.get_legend() is not None:
            shown = [t.get_text() for t in axis.get_legend().get_texts()]
            assert shown == axis.get_legend_handles_labels()[1]
    assert any(a.get_xlabel().strip() for a in plotted), "no x axis label anywhere"
    texts = [(t, t.get_window_extent(renderer).padded(-1.0)) for t in _texts(figure)]
    for axis in figure.axes:
        frame = axis.get_window_extent(renderer)
        drawn = [
            (line.get_label(), _segments(line))
            for line in axis.lines
            if line.get_visible() and line.get_linestyle() not in ("None", "")
        ]
        drawn += [
            ("(bars or whiskers)", _collection_segments(c))
            for c in axis.collections
            if isinstance(c, LineCollection)
        ]
        for label, segments in drawn:
            inside = _clip(segments, frame)
            for text, box in texts:
                assert not len(_clip(inside, box)), (
                    f"text {text.get_text()!r} lies over line {label!r}"
                )


def build(make: Any, *args: Any, **kwargs: Any) -> Figure:
    """Build a figure with every warning an error (matplotlib's legend warning included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("default", ResourceWarning)  # another test's pipe, collected here
        return make(*args, **kwargs)


def test_the_check_catches_a_counter_box_over_data() -> None:
    """The check itself must fail on the old report's fault: a text box over the curves."""
    figure, axis = plt.subplots()
    axis.plot([0, 1, 2], [0, 1, 0], label="token")
    axis.set_xlabel("time")
    axis.set_ylabel("req/s")
    axis.text(1.0, 0.9, "blocked instance seconds: 658,633,460.7", ha="center")
    with pytest.raises(AssertionError, match="lies over line"):
        check_structure(figure)
    plt.close(figure)


def test_the_check_catches_a_legend_that_lies() -> None:
    figure, axis = plt.subplots()
    axis.plot([0, 1], [0, 1], label="register")
    axis.plot([0, 1], [1, 0], label="token")
    axis.set_xlabel("time")
    axis.set_ylabel("req/s")
    axis.legend(["register"], loc="upper left", bbox_to_anchor=(1.02, 1))
    with pytest.raises(AssertionError):
        check_structure(figure)
    plt.close(figure)


# ------------------------------------------------------------------ the shipped reports


@pytest.fixture(scope="module")
def reports() -> dict[str, tuple[dict[str, Any], Figure]]:
    """The report of every shipped scenario at a small size, built as the command does."""
    from dcrload.results.summary import report_inputs, summary_of
    from sim.fleet import simulate
    from sim.recovery import baseline_run, recovery_report

    built = {}
    for path in SHIPPED:
        overrides = ["fleet.instances=60", *SMALL.get(path.stem, [])]
        scenario = load_scenario(path, overrides)
        result = simulate(scenario)
        baseline = baseline_run(result)
        summary = summary_of(result, recovery_report(result, baseline=baseline))
        inputs = report_inputs(result, summary, f"test — {path.stem}", baseline=baseline)
        built[path.stem] = (inputs, build(report_figure, **inputs))
    return built


@pytest.mark.parametrize("name", [p.stem for p in SHIPPED])
def test_each_shipped_report_has_a_sound_structure(
    reports: dict[str, tuple[dict[str, Any], Figure]], name: str
) -> None:
    inputs, figure = reports[name]
    check_structure(figure)
    panels = [a for a in figure.axes if a.lines or a.collections or a.patches]
    for axis in panels:  # empty panels are left out
        assert any(len(line.get_xdata()) > 1 for line in axis.lines) or axis.collections
    labels = " ".join(a.get_xlabel() for a in figure.axes)
    assert "simulated time" in labels
    counters = " ".join(t.get_text() for t in _texts(figure))
    assert "blocked instance-hours" in counters
    assert "blocked instance seconds" not in counters
    low, high = panels[-1].get_xlim()
    ticks = [
        t.get_text()
        for t in panels[-1].get_xticklabels()
        if t.get_text() and low - 1e-9 <= t.get_position()[0] <= high + 1e-9
    ]
    hours = inputs["duration"] / 3600
    assert ticks[0] in ("0h", "day 0")
    if hours > 36:
        assert all(t.startswith("day ") for t in ticks)


def test_a_spike_twenty_times_the_typical_level_gets_a_log_axis_that_says_so() -> None:
    from dcrload.results.style import rate_axis

    figure, (spiky, calm) = plt.subplots(2)
    assert rate_axis(spiky, [2100.0], 100.0) and spiky.get_yscale() == "log"
    assert spiky.get_ylim() == (10.0, 4200.0)  # the typical level stays readable
    assert not rate_axis(calm, [1900.0], 100.0) and calm.get_yscale() == "linear"
    plt.close(figure)


def test_outage_report_draws_the_baseline_behind_on_the_scale_its_spike_needs(
    reports: dict[str, tuple[dict[str, Any], Figure]],
) -> None:
    """The outage's 8-attempt storm stays within 20× the typical level: a linear axis."""
    _inputs, figure = reports["outage-recovery"]
    dcr = figure.axes[0]
    assert dcr.get_yscale() == "linear" and "(log)" not in dcr.get_ylabel()
    labels = dcr.get_legend_handles_labels()[1]
    assert "token: no-fault baseline" in labels
    assert any(label.startswith("outage 503, 20:00–20:30") for label in labels)


def test_revocation_report_marks_the_rollout_outside_the_data(
    reports: dict[str, tuple[dict[str, Any], Figure]],
) -> None:
    _inputs, figure = reports["revocation-drill"]
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert any(label.startswith("revocation of streamco-app-v1") for label in labels)
    assert any(label.startswith("update streamco-app-v2 released") for label in labels)
    assert any(a.get_ylabel() == "blocked instances" for a in figure.axes)


def test_a_run_without_failures_draws_no_failure_panel(
    reports: dict[str, tuple[dict[str, Any], Figure]],
) -> None:
    inputs, figure = reports["steady-state"]
    failed = [s for s in inputs["series"] if s[1] not in ("200", "201") and any(s[2])]
    names = [a.get_ylabel() for a in figure.axes]
    assert any("not 200/201" in n for n in names) == bool(failed)


def test_units_read_as_a_planner_reads_them() -> None:
    assert style.human(658_633_460.7 / 3600) == "183k"
    assert style.human(1_234_567) == "1.23M"
    assert style.human(1234) == "1,234"
    assert style.human(0.0212) == "0.0212"
    items = dict(style.impact_items({"registrations_per_install": 1.0512,
                                     "blocked_instance_seconds": 7200.0}))  # fmt: skip
    assert items == {"registrations per install": "1.05", "blocked instance-hours": "2"}


# ------------------------------------------------------------------ compare and load test


def _variant(label: str, peak: list[float], expired: list[float], shape: float) -> VariantStats:
    values = {m.key: [0.0, 0.0, 0.0] for m in METRICS}
    values["peak_token_rps"] = peak
    values["p99_token_rps"] = [p * 0.9 for p in peak]
    values["token_per_instance_day"] = [4.0 * shape, 4.1 * shape, 3.9 * shape]
    values["expired_token_calls"] = expired
    intervals = {k: mean_interval(v, floor=0.0) for k, v in values.items()}
    rps = [shape * (1 + math.sin(i / 6)) for i in range(48)]
    return VariantStats(label, {}, [1, 2, 3], values, intervals, rps)


@pytest.fixture(scope="module")
def sweep() -> list[VariantStats]:
    return [
        _variant("oauthlib", [2.0, 2.1, 1.9], [0, 0, 0], 0.5),
        _variant("okta", [4.0, 4.4, 3.0], [0, 0, 0], 1.0),
        _variant("golang-oauth2", [4.0, 4.4, 3.0], [0, 0, 0], 1.0),
        _variant("msal", [6.0, 6.5, 5.0], [0, 0, 1], 1.4),
        _variant("reactive", [1.5, 1.6, 1.4], [300, 280, 310], 0.4),
    ]


@pytest.mark.parametrize("make", ["token_load", "metrics", "pareto"])
def test_compare_pictures_have_a_sound_structure(sweep: list[VariantStats], make: str) -> None:
    common = {"title": "test", "recommended": "oauthlib", "qualifying": {"oauthlib", "okta",
              "golang-oauth2", "msal"}}  # fmt: skip
    if make == "token_load":
        common["bin_width"] = 300.0
    figure = build(getattr(compare_plots, f"{make}_figure"), sweep, **common)
    check_structure(figure)
    greens = [
        a
        for a in figure.axes
        for line in a.lines
        if matplotlib.colors.to_hex(line.get_color()) == style.RECOMMENDED
    ]
    if make == "token_load":
        assert greens, "the recommended variant is drawn in the recommended green"
    texts = " ".join(t.get_text() for t in _texts(figure))
    assert "symlog" not in texts
    if make == "pareto":
        assert "okta, golang-oauth2" in texts  # coincident points share one label
    if make == "metrics":
        assert "0 for every variant: re-authentications" in texts
        assert len([a for a in figure.axes if a.patches]) == 4  # zero metrics left out
    plt.close(figure)


def test_pareto_whiskers_stop_at_zero(sweep: list[VariantStats]) -> None:
    figure = build(compare_plots.pareto_figure, sweep, title="t", recommended="oauthlib",
                   qualifying={"oauthlib"})  # fmt: skip
    axis = figure.axes[0]
    for collection in axis.collections:
        for segment in collection.get_segments():
            assert min(y for _, y in segment) >= 0.0
    plt.close(figure)


def comparison_document() -> dict[str, Any]:
    """A comparison.json as `dcrload.analysis.prediction.compare` writes it, by hand."""
    predicted = {"register": [30, 5, 0, 0], "token": [40, 42, 39, 41], "api": [0, 0, 0, 0]}
    measured = {"register": [31, 5, 0, 0], "token": [38, 45, 37, 40], "api": [0, 0, 0, 0]}
    endpoints = {}
    for name in predicted:
        p, m = sum(predicted[name]), sum(measured[name])
        endpoints[name] = {
            "predicted": p,
            "measured": m,
            "relative_error": abs(m - p) / max(p, 1),
            "passed": abs(m - p) <= max(0.1 * p, 3),
            "largest_bin_error": None,
            "predicted_per_bin": predicted[name],
            "measured_per_bin": measured[name],
        }
    return {"tolerance": 0.1, "slack": 3, "bin_seconds": 60.0, "passed": True,
            "endpoints": endpoints}  # fmt: skip


def test_loadtest_comparison_has_a_sound_structure() -> None:
    figure = build(comparison_figure, comparison_document(), "test", time_scale=60.0)
    check_structure(figure)
    titles = [a.get_title(loc="left") for a in figure.axes if a.get_title(loc="left")]
    assert [t.split(":")[0] for t in titles] == ["register", "token"]  # api saw nothing
    labels = " ".join(
        [a.get_xlabel() for a in figure.axes]
        + [a.get_ylabel() for a in figure.axes]
        + [c.get_ylabel() for a in figure.axes for c in a.child_axes]
    )
    assert "played 60× faster" in labels
    assert "real req/s" in labels and "simulated s" in labels
    # the last bin is drawn: each step line reaches the end of the run
    for axis in figure.axes:
        for line in axis.lines:
            assert max(line.get_xdata()) == pytest.approx(4 * 60 / 3600)
    plt.close(figure)


def test_a_load_tests_report_says_its_time_is_simulated(
    reports: dict[str, tuple[dict[str, Any], Figure]],
) -> None:
    """report.png of `dcrload loadtest`: the measured run, rates per simulated second, the
    speed-up named on the time axis (the command prints real-time rates)."""
    inputs, _ = reports["outage-recovery"]
    figure = build(report_figure, **{**inputs, "time_scale": 60.0})
    check_structure(figure)
    assert any("played 60× faster" in a.get_xlabel() for a in figure.axes)
    assert all("simulated s" in a.get_ylabel() for a in figure.axes[:2])
    plt.close(figure)


def test_a_few_simulated_minutes_get_minute_ticks() -> None:
    figure = build(comparison_figure, comparison_document(), "test", time_scale=60.0)
    figure.canvas.draw()
    ticks = [t.get_text() for t in figure.axes[-1].get_xticklabels() if t.get_text()]
    assert "0 min" in ticks and "2 min" in ticks
    plt.close(figure)
