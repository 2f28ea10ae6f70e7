"""Confidence intervals over seeds, and Welch's test between two variants.

A sweep runs every variant with a handful of seeds; each seed is one independent draw of
the fleet. The mean of a metric over the seeds gets a Student t interval (the number of
seeds is small and the spread unknown, so the normal 1.96 would be far too optimistic at
3 seeds), and two variants are compared with Welch's unequal-variances t-test.

No scipy: the t distribution's CDF is the regularized incomplete beta function, evaluated
by its continued fraction (Lentz's method, as in Numerical Recipes' `betacf`), and the
quantile is found by bisection on the CDF. Both are exact to about 1e-12, far below what a
confidence interval over a few seeds can tell apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

LEVEL = 0.95
"""Confidence level of every interval dcrload reports."""

_EPS = 1e-15
_TINY = 1e-300
_MAX_TERMS = 500


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        step = d * c
        h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if not (a > 0 and b > 0):
        raise ValueError("incomplete_beta needs a > 0 and b > 0")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_sf2(t: float, df: float) -> float:
    """Two-sided tail probability P(|T| >= |t|) of Student's t with `df` degrees of freedom."""
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    if math.isinf(t):
        return 0.0
    return incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom."""
    tail = t_sf2(t, df) / 2.0
    return 1.0 - tail if t >= 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The `q`-quantile of Student's t with `df` degrees of freedom (0 < q < 1)."""
    if not 0.0 < q < 1.0:
        raise ValueError("the quantile needs 0 < q < 1")
    if q < 0.5:
        return -t_quantile(1.0 - q, df)
    if q == 0.5:
        return 0.0
    low, high = 0.0, 1.0
    while t_cdf(high, df) < q:
        low, high = high, high * 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if t_cdf(middle, df) < q:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * max(1.0, high):
            break
    return (low + high) / 2.0


@dataclass(frozen=True, slots=True)
class Interval:
    """The mean of `n` values with its two-sided `level` Student t interval.

    With a single value there is no spread to go by: `half_width` is NaN and `low`/`high`
    are NaN too (reported as "n/a"); identical values give a zero-width interval.
    """

    n: int
    mean: float
    sd: float
    half_width: float
    level: float = LEVEL
    floor: float = -math.inf
    """The least value the metric can take; the lower bound is clipped to it (counts: 0)."""

    @property
    def low(self) -> float:
        return max(self.floor, self.mean - self.half_width)

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def known(self) -> bool:
        """Whether there were enough values (two or more) for an interval."""
        return not math.isnan(self.half_width)

    def overlaps(self, other: Interval) -> bool:
        """Whether the two intervals share a point (unknown intervals always overlap)."""
        if not (self.known and other.known):
            return True
        return self.low <= other.high and other.low <= self.high


def mean_interval(
    values: Sequence[float], level: float = LEVEL, floor: float = -math.inf
) -> Interval:
    """Mean ± t(level, n-1)·sd/√n over independent runs; raises ValueError when empty.

    `floor` clips the lower bound for metrics that cannot go below it (a symmetric t
    interval around a small count would otherwise reach below zero).
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values to average")
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(1, mean, math.nan, math.nan, level, floor)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    sd = math.sqrt(variance)
    half = t_quantile(0.5 + level / 2.0, n - 1) * sd / math.sqrt(n) if sd > 0 else 0.0
    return Interval(n, mean, sd, half, level, floor)


@dataclass(frozen=True, slots=True)
class Welch:
    """Welch's t-test of mean(a) - mean(b) = 0; `p` is two-sided (None: not enough values)."""

    difference: float
    t: float | None
    df: float | None
    p: float | None


def welch_test(a: Sequence[float], b: Sequence[float]) -> Welch:
    """Compare two samples without assuming equal variances.

    Needs two or more values in each sample, else `p` is None. When both samples have no
    spread at all the answer is exact: p = 1 for equal means, p = 0 otherwise.
    """
    first, second = mean_interval(a), mean_interval(b)
    difference = first.mean - second.mean
    if first.n < 2 or second.n < 2:
        return Welch(difference, None, None, None)
    va, vb = first.sd**2 / first.n, second.sd**2 / second.n
    if va + vb == 0.0:
        if difference == 0.0:
            return Welch(difference, 0.0, None, 1.0)
        return Welch(difference, math.copysign(math.inf, difference), None, 0.0)
    se = math.sqrt(va + vb)
    t = difference / se
    df = (va + vb) ** 2 / (va**2 / (first.n - 1) + vb**2 / (second.n - 1))
    return Welch(difference, t, df, t_sf2(t, df))


@dataclass(frozen=True, slots=True)
class Paired:
    """A paired t-test of mean(a − b) = 0 over matched seeds, and its interval.

    `dcrload compare` runs every variant on the same seeds, and a seed fixes every
    instance's random streams (common random numbers): the seed-to-seed noise is shared,
    so the differences vary far less than either sample, and the interval on the
    difference is much narrower than two separate intervals suggest.
    """

    difference: Interval
    t: float | None
    p: float | None


def paired_test(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Paired:
    """Compare two samples taken on the same seeds (`a[i]` and `b[i]` share seed i)."""
    if len(a) != len(b):
        raise ValueError("a paired test needs one value of each sample per seed")
    differences = [x - y for x, y in zip(a, b, strict=True)]
    interval = mean_interval(differences, level)
    if interval.n < 2:
        return Paired(interval, None, None)
    if interval.sd == 0.0:
        p = 1.0 if interval.mean == 0.0 else 0.0
        t = 0.0 if interval.mean == 0.0 else math.copysign(math.inf, interval.mean)
        return Paired(interval, t, p)
    t = interval.mean / (interval.sd / math.sqrt(interval.n))
    return Paired(interval, t, t_sf2(t, interval.n - 1))
