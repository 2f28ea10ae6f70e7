"""`capacity.png`: each SLO's figure against capacity, its threshold and the answer marked.

One panel per SLO, the capacity axis shared: every seed's figure at every probe as a dot,
the worst seed joined by a line (the SLO judges the worst seed), the threshold dashed, the
answer a green vertical line; probes that met every SLO in green, the others in the
excluded colour. Nothing is drawn over the data: the legend sits to the right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

from dcrload.results import style

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def capacity_figure(report: dict[str, Any], slos: list[Any], axis: Any) -> Figure:
    """The figure (tests inspect it); `report` is capacity.json's content."""
    probes = sorted(report["probes"], key=lambda p: p["value"])
    figure, axes = plt.subplots(
        len(slos), 1, figsize=(10, 2.6 * len(slos) + 0.8), sharex=True, squeeze=False,
        layout="constrained",
    )  # fmt: skip
    values = [p["value"] for p in probes]
    for panel, slo in zip(axes[:, 0], slos, strict=True):
        scale, unit = (1000.0, " (ms)") if slo.unit == "s" else (1.0, "")
        for probe in probes:
            judged = probe["slos"][slo.text]
            colour = style.RECOMMENDED if judged["met"] else style.EXCLUDED
            panel.scatter([probe["value"]] * len(judged["seeds"]),
                          [v * scale for v in judged["seeds"]], s=14, color=colour,
                          zorder=3)  # fmt: skip
        worst = [p["slos"][slo.text]["worst"] * scale for p in probes]
        panel.plot(values, worst, color=style.TOKEN, linewidth=1.2, label="worst seed")
        panel.axhline(slo.threshold * scale, color=style.REGISTER, linestyle="--",
                      linewidth=1.2, label=f"threshold {slo.text.split('@')[0]}")  # fmt: skip
        if report["answer"] is not None:
            panel.axvline(report["answer"], color=style.RECOMMENDED, linewidth=2,
                          label=f"answer {report['answer_label']}")  # fmt: skip
        what = "utilisation" if slo.measure == "utilisation" else f"{slo.measure} {slo.metric}"
        panel.set_ylabel(
            f"{slo.endpoint} {what}{unit}".replace("error_rate error_rate", "error rate")
        )
        panel.set_title(f"{slo.text} — {slo.window.text()}", loc="left", fontsize=10)
        top = max([*worst, slo.threshold * scale]) or 1.0
        if top > 50 * max(slo.threshold * scale, 1e-9):
            panel.set_yscale("symlog", linthresh=max(slo.threshold * scale, 1e-6))
            panel.set_ylim(0, top * 2)
            panel.set_title(panel.get_title(loc="left") + " (log scale above the threshold)",
                            loc="left", fontsize=10)  # fmt: skip
        panel.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        panel.grid(alpha=0.3)
    bottom = axes[-1, 0]
    if not axis.integer or (max(values) / max(1.0, min(values))) > 20:
        bottom.set_xscale("log")
    bottom.set_xlabel(f"{axis.path} ({'more' if axis.increasing else 'less'} is more capacity)")
    answer = report["answer_label"] or "none in range"
    figure.suptitle(
        f"dcrload capacity — {report['scenario']}: {axis.path} = {answer}"
        f" ({len(report['seeds'])} seeds; dots: seeds, green where the SLO is met)",
        fontsize=10,
        x=0.01,
        ha="left",
    )
    return figure


def plot_capacity(path: Path, report: dict[str, Any], slos: list[Any], axis: Any) -> None:
    figure = capacity_figure(report, slos, axis)
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)
