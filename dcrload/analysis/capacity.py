"""Capacity planning: service-level objectives, their figures on a run, and the least capacity
that meets them all, found by bisection.

An SLO reads `ENDPOINT.METRIC<=VALUE[@WINDOW]`:

- `token.p99<=250ms`, `register.p95<=1s`, `token.max<2s`, `token.mean<=80ms`: the response
  time (send to answer, as the client saw it; a timeout counts as the timeout) of the
  requests sent in the window; `token.wait.p99<=50ms`: the queue wait alone;
- `register.error_rate<=0.001`: the share of the endpoint's requests in the window that
  were not answered 2xx (429, 5xx, 4xx, timeouts);
- `workers.utilisation<=0.7`: the DCR workers' mean utilisation over the window;
- `@WINDOW`: `@outage+30m` (during every outage and 30 min after it), `@revocation+2h`,
  `@fault` (every fault window), or `@18h..20h` (a span of scenario time). Windows are
  widened to whole bins of the scenario. No window: the whole run.

The search (`search`) assumes the figures are monotone in the capacity axis — more workers
(or a faster service, or a higher throttle rate) never make an SLO worse — and so probes
the top of the range, then the bottom, then halves the interval: O(log range) probes,
never a grid. A probe passes when every seed meets every SLO.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dcrload.analysis.recovery import fault_windows
from dcrload.core.durations import format_duration, parse_duration
from dcrload.core.errors import UsageError

LATENCY_METRICS = ("p50", "p95", "p99", "max", "mean")
EXIT_NO_ANSWER = 3
"""`dcrload capacity` exit status when no capacity in the axis's range meets every SLO."""

_SLO = re.compile(
    r"^(?P<endpoint>register|token|workers)\.(?P<measure>wait\.)?(?P<metric>[a-z0-9_]+)"
    r"\s*(?P<op><=|<)\s*(?P<value>[^@\s]+)\s*(?:@\s*(?P<window>\S+))?$"
)


@dataclass(frozen=True)
class Window:
    """Where an SLO applies: fault windows widened by `after`, or a span of scenario time."""

    kind: Literal["run", "outage", "revocation", "fault", "span"] = "run"
    after: float = 0.0
    start: float = 0.0
    end: float = math.inf

    def spans(self, scenario: Any) -> list[tuple[float, float]]:
        """The (start, end) spans of scenario time this window covers."""
        if self.kind == "run":
            return [(0.0, scenario.scenario.duration)]
        if self.kind == "span":
            return [(self.start, self.end)]
        spans = []
        for label, start, end in fault_windows(scenario):
            if self.kind == "fault" or label.startswith(self.kind):
                spans.append((start, end + self.after))
        return spans

    def bins(self, scenario: Any) -> list[int]:
        """The bins of the run that overlap the window (an instant takes its bin)."""
        width = scenario.scenario.bin
        count = max(1, math.ceil(scenario.scenario.duration / width - 1e-9))
        chosen: set[int] = set()
        for start, end in self.spans(scenario):
            first = max(0, int(start // width))
            last = min(count - 1, max(first, math.ceil(end / width - 1e-9) - 1))
            chosen.update(range(first, last + 1))
        return sorted(chosen)

    def text(self) -> str:
        if self.kind == "run":
            return "the whole run"
        if self.kind == "span":
            return f"{format_duration(self.start)}..{format_duration(self.end)}"
        suffix = f" and {format_duration(self.after)} after" if self.after else ""
        return f"during each {self.kind}{suffix}"


@dataclass(frozen=True)
class Slo:
    """One objective: `figure(run) op threshold` over a window."""

    text: str
    endpoint: str
    measure: str  # "response", "wait", "error_rate", "utilisation"
    metric: str  # p50 ... mean for latency; the measure itself otherwise
    threshold: float  # seconds for latency, a share otherwise
    strict: bool = False
    window: Window = field(default_factory=Window)

    @property
    def unit(self) -> str:
        return "s" if self.measure in ("response", "wait") else ""

    def meets(self, value: float) -> bool:
        return value < self.threshold if self.strict else value <= self.threshold

    def figure(self, counts: Any, scenario: Any) -> float:
        """This SLO's figure on one run's `RunCounts` (0 when the window saw nothing)."""
        bins = self.window.bins(scenario)
        if self.measure in ("response", "wait"):
            figures = counts.service.figures(self.endpoint, self.measure, bins)
            return 0.0 if figures is None else float(figures[self.metric])
        if self.measure == "utilisation":
            utilisation = counts.service.utilisation()
            return sum(utilisation[b] for b in bins) / len(bins) if bins else 0.0
        total = bad = 0
        for endpoint, outcome, row in counts.counters.items():
            if endpoint != self.endpoint:
                continue
            n = sum(row[b] for b in bins if b < len(row))
            total += n
            bad += 0 if outcome.startswith("2") else n
        return bad / total if total else 0.0


def parse_window(text: str) -> Window:
    """`outage+30m`, `revocation`, `fault+1h` or `18h..20h`; UsageError otherwise."""
    if ".." in text:
        low, _, high = text.partition("..")
        start, end = parse_duration(low), parse_duration(high)
        if end <= start:
            raise UsageError(f"@{text}: the window must end after it starts")
        return Window("span", start=start, end=end)
    name, _, after = text.partition("+")
    if name not in ("outage", "revocation", "fault"):
        raise UsageError(
            f"@{text}: expected outage, revocation or fault (optionally +DURATION), or START..END"
        )
    return Window(name, after=parse_duration(after) if after else 0.0)  # type: ignore[arg-type]


def parse_slo(text: str) -> Slo:
    """An SLO from its text; UsageError naming what was wrong."""
    match = _SLO.match(text.strip())
    if match is None:
        raise UsageError(
            f"--slo {text!r}: expected ENDPOINT.METRIC<=VALUE[@WINDOW], e.g."
            " 'token.p99<=250ms' or 'register.error_rate<=0.001@outage+30m'"
        )
    endpoint, metric, value = match["endpoint"], match["metric"], match["value"]
    try:
        window = parse_window(match["window"]) if match["window"] else Window()
    except (UsageError, ValueError) as error:
        raise UsageError(f"--slo {text!r}: {error}") from None
    strict = match["op"] == "<"
    wait = bool(match["measure"])
    if endpoint == "workers":
        if metric != "utilisation" or wait:
            raise UsageError(f"--slo {text!r}: workers has one metric, utilisation")
        return Slo(text, endpoint, "utilisation", metric, _share(text, value), strict, window)
    if metric == "error_rate" and not wait:
        return Slo(text, endpoint, "error_rate", metric, _share(text, value), strict, window)
    if metric not in LATENCY_METRICS:
        raise UsageError(
            f"--slo {text!r}: unknown metric {metric!r}; expected one of"
            f" {', '.join(LATENCY_METRICS)}, error_rate"
        )
    try:
        threshold = parse_duration(value)
    except (UsageError, ValueError):
        raise UsageError(f"--slo {text!r}: {value!r} is not a duration such as 250ms") from None
    measure = "wait" if wait else "response"
    return Slo(text, endpoint, measure, metric, threshold, strict, window)


def _share(text: str, value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        raise UsageError(f"--slo {text!r}: {value!r} is not a number between 0 and 1") from None
    if not 0 <= share <= 1:
        raise UsageError(f"--slo {text!r}: {value!r} is not a number between 0 and 1")
    return share


# --------------------------------------------------------------------------- the axis


@dataclass(frozen=True)
class Axis:
    """A capacity knob: its scenario path, range, and which way is "more capacity"."""

    path: str
    low: float
    high: float
    integer: bool
    increasing: bool
    """True: a larger value is more capacity (workers, throttle rate); False: smaller is
    (service time)."""
    precision: float = 0.01
    """Float axes: stop when the bracket is within this relative width."""

    def apply(self, scenario: Any, value: float) -> Any:
        """The scenario with this axis set to `value` (the service time: its distribution
        scaled so its mean is `value`)."""
        server = scenario.server
        if self.path == "server.workers":
            server = server.model_copy(update={"workers": int(value)})
        elif self.path == "server.throttle.rate":
            throttle = server.throttle.model_copy(update={"rate": value})
            server = server.model_copy(update={"throttle": throttle})
        else:
            server = server.model_copy(update={"service_time": scaled(server.service_time, value)})
        return scenario.model_copy(update={"server": server})

    def current(self, scenario: Any) -> float:
        server = scenario.server
        if self.path == "server.workers":
            return float(server.workers)
        if self.path == "server.throttle.rate":
            return float(server.throttle.rate)
        return float(server.service_time.mean)

    def label(self, value: float) -> str:
        if self.integer:
            return str(int(value))
        if self.path == "server.service_time":
            return format_duration(value)
        return f"{value:.4g}"


SCALED_FIELDS = ("value", "mean_value", "median", "low", "high", "sd")


def scaled(distribution: Any, mean: float) -> Any:
    """A service-time distribution of the same shape whose mean is `mean`."""
    factor = mean / distribution.mean
    update = {
        name: getattr(distribution, name) * factor
        for name in SCALED_FIELDS
        if hasattr(distribution, name)
    }
    return distribution.model_copy(update=update)


AXES = {
    "server.workers": (1, 1024, True, True),
    "server.service_time": (0.0005, 1.0, False, False),
    "server.throttle.rate": (0.01, 100.0, False, True),
}
"""Known axes: default low, high, integer, increasing."""


def parse_axis(path: str, span: str | None = None) -> Axis:
    """The axis `--over PATH [--range LOW..HIGH]`; UsageError for an unknown one."""
    if path not in AXES:
        raise UsageError(f"--over {path}: expected one of {', '.join(AXES)}")
    low, high, integer, increasing = AXES[path]
    if span is not None:
        text_low, sep, text_high = span.partition("..")
        if not sep:
            raise UsageError(f"--range {span}: expected LOW..HIGH, e.g. 1..256")
        try:
            if integer:
                low, high = int(text_low), int(text_high)
            elif path == "server.service_time":
                low, high = parse_duration(text_low), parse_duration(text_high)
            else:
                low, high = float(text_low), float(text_high)
        except ValueError:
            raise UsageError(f"--range {span}: expected two numbers LOW..HIGH") from None
        if not (0 < low < high) or (integer and low < 1):
            raise UsageError(f"--range {span}: expected 0 < LOW < HIGH")
    return Axis(path, float(low), float(high), integer, increasing)


# --------------------------------------------------------------------------- the search


@dataclass
class Probe:
    """One probed capacity: whether every seed met every SLO, and each SLO's figures."""

    value: float
    passed: bool
    figures: dict[str, list[float]]
    """SLO text → its figure for each seed."""
    order: int


def search(axis: Axis, passes: Callable[[float], Probe]) -> tuple[float | None, list[Probe]]:
    """The least capacity in the axis's range whose probe passes (None if the top fails),
    and the probes made, in order. Assumes monotonicity: O(log range) probes."""
    probes: list[Probe] = []

    def probe(value: float) -> bool:
        result = passes(value)
        probes.append(result)
        return result.passed

    worst, best = (axis.low, axis.high) if axis.increasing else (axis.high, axis.low)
    if not probe(best):
        return None, probes
    if probe(worst):
        return worst, probes
    failing, passing = worst, best  # invariant: failing fails, passing passes
    while not _close(axis, failing, passing):
        middle = _middle(axis, failing, passing)
        if probe(middle):
            passing = middle
        else:
            failing = middle
    return passing, probes


def _close(axis: Axis, a: float, b: float) -> bool:
    if axis.integer:
        return abs(a - b) <= 1
    return max(a, b) / min(a, b) <= 1 + axis.precision


def _middle(axis: Axis, a: float, b: float) -> float:
    if axis.integer:
        return float((int(a) + int(b)) // 2)
    return math.sqrt(a * b)  # geometric: the axis spans decades


def probe_budget(axis: Axis) -> int:
    """The most probes `search` makes on this axis: two ends and the halvings between."""
    if axis.integer:
        return 2 + max(0, math.ceil(math.log2(max(1.0, axis.high - axis.low))))
    ratio = math.log(axis.high / axis.low) / math.log(1 + axis.precision)
    return 2 + max(0, math.ceil(math.log2(max(1.0, ratio))))


def margin(slos: Sequence[Slo], probe: Probe) -> dict[str, float | None]:
    """Each SLO's headroom at a probe: (threshold - worst seed) / threshold (None: 0 bound)."""
    result: dict[str, float | None] = {}
    for slo in slos:
        worst = max(probe.figures[slo.text])
        result[slo.text] = None if slo.threshold == 0 else (slo.threshold - worst) / slo.threshold
    return result
