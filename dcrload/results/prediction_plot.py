"""`comparison.png`: a load test's measured requests against the simulation's prediction.

One panel per endpoint that saw traffic, the prediction drawn pale behind the measurement
(the same convention as the no-fault baseline of `report.png`). Rates are per simulated
second on the left axis, the axis the prediction check works in; a load test plays time
`time_scale` times faster, so the right axis gives the same line in real requests/s, the
rates the command prints. The verdict of each endpoint is its panel's title.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

from dcrload.analysis.prediction import ENDPOINTS
from dcrload.results import style

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def comparison_figure(comparison: dict[str, Any], title: str, time_scale: float = 1.0) -> Figure:
    """The figure of `comparison.json` (`dcrload.analysis.prediction.compare`)."""
    width = comparison["bin_seconds"]
    shown = [
        e
        for e in ENDPOINTS
        if any(comparison["endpoints"][e]["predicted_per_bin"])
        or any(comparison["endpoints"][e]["measured_per_bin"])
    ] or list(ENDPOINTS[:1])
    figure, axes = plt.subplots(
        len(shown), 1, figsize=(11, 1.2 + 2.2 * len(shown)), sharex=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    figure.suptitle(title, fontsize=12)
    axes = list(axes[:, 0])
    seconds = 0.0
    for axis, endpoint in zip(axes, shown, strict=True):
        data = comparison["endpoints"][endpoint]
        colour = style.ENDPOINT_COLOURS[endpoint]
        bins = len(data["predicted_per_bin"])
        seconds = max(seconds, bins * width)
        hours = [i * width / 3600.0 for i in range(bins + 1)]
        pale = {"alpha": 0.3, "linewidth": 3.2}
        for key, label, extra in (
            ("predicted_per_bin", f"predicted: {data['predicted']:,}", pale),
            ("measured_per_bin", f"measured: {data['measured']:,}", {"linewidth": 1.3}),
        ):
            rates = [n / width for n in data[key]]
            axis.step(hours, [*rates, rates[-1]], where="post", color=colour, label=label, **extra)
        peak = max(max(data["predicted_per_bin"]), max(data["measured_per_bin"])) / width
        style.rate_axis(axis, [peak], 0.0)
        verdict = "ok" if data["passed"] else "OUT OF TOLERANCE"
        signed = (data["measured"] - data["predicted"]) / max(data["predicted"], 1)
        axis.set_title(
            f"{endpoint}: measured {signed:+.1%} against predicted"
            f" (tolerance {comparison['tolerance']:.0%}): {verdict}",
            fontsize=10, loc="left", color="black" if data["passed"] else style.REGISTER,
        )  # fmt: skip
        axis.set_ylabel("req per simulated s")
        if time_scale != 1:
            real = axis.secondary_yaxis(
                "right", functions=(lambda y: y * time_scale, lambda y: y / time_scale)
            )
            real.set_ylabel("real req/s")
        axis.grid(alpha=0.25)
        axis.legend(loc="upper left", bbox_to_anchor=(1.08 if time_scale != 1 else 1.01, 1.0),
                    fontsize=8.5, frameon=False, borderaxespad=0.0)  # fmt: skip
    clock = "simulated time" + (f" (played {time_scale:g}× faster)" if time_scale != 1 else "")
    style.time_axis(axes[-1], seconds, clock)
    return figure


def plot_comparison(
    path: Path, comparison: dict[str, Any], title: str, time_scale: float = 1.0
) -> None:
    """Write `comparison_figure` to `path` as a PNG."""
    figure = comparison_figure(comparison, title, time_scale)
    figure.savefig(path, dpi=100)
    plt.close(figure)
