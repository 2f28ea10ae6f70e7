"""`dcrload.analysis.stats`: t quantiles, intervals over seeds and Welch's test, no scipy."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from dcrload.analysis.stats import incomplete_beta, mean_interval, t_cdf, t_quantile, welch_test

# Two-sided 95 % critical values of Student's t (any statistics table).
T_975 = {1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 9: 2.2622, 29: 2.0452}


@pytest.mark.parametrize(("df", "expected"), sorted(T_975.items()))
def test_t_quantile_matches_the_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-5)
    assert t_quantile(0.025, df) == pytest.approx(-expected, abs=5e-5)


def test_t_tends_to_the_normal_distribution() -> None:
    normal = statistics.NormalDist()
    for q in (0.6, 0.9, 0.975, 0.999):
        assert t_quantile(q, 1e7) == pytest.approx(normal.inv_cdf(q), abs=1e-5)


def test_t_cdf_closed_forms() -> None:
    # df = 1 is the Cauchy distribution; df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
    for t in (-3.0, -0.5, 0.0, 0.7, 4.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_incomplete_beta_edges_and_symmetry() -> None:
    assert incomplete_beta(2.0, 3.0, 0.0) == 0.0
    assert incomplete_beta(2.0, 3.0, 1.0) == 1.0
    assert incomplete_beta(1.0, 1.0, 0.3) == pytest.approx(0.3)  # uniform
    for a, b, x in ((0.5, 4.5, 0.2), (7.0, 0.5, 0.9), (3.0, 3.0, 0.5)):
        assert incomplete_beta(a, b, x) == pytest.approx(1 - incomplete_beta(b, a, 1 - x))


def test_interval_of_known_values() -> None:
    interval = mean_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2) = 4.3027 → half-width 4.3027 / sqrt(3)
    assert interval.mean == 2.0 and interval.sd == pytest.approx(1.0)
    assert interval.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert interval.low < 2.0 < interval.high


def test_interval_edge_cases() -> None:
    single = mean_interval([5.0])
    assert single.mean == 5.0 and not single.known
    same = mean_interval([3.0, 3.0, 3.0])
    assert same.known and same.half_width == 0.0 and same.low == same.high == 3.0
    counts = mean_interval([0.0, 0.0, 9.0], floor=0.0)
    assert counts.low == 0.0 and counts.high > 3.0  # a count's interval stops at zero
    with pytest.raises(ValueError):
        mean_interval([])


def test_intervals_shrink_as_seeds_grow_on_a_noisy_metric() -> None:
    """Many draws of a noisy metric: the average half-width falls with the number of runs,
    roughly as t(n-1)/sqrt(n), and the interval covers the true mean about 95 % of the time."""
    rng = random.Random(2024)
    true_mean, sd = 10.0, 2.0
    widths = {}
    for n in (2, 3, 5, 10, 30):
        trials = [mean_interval([rng.gauss(true_mean, sd) for _ in range(n)]) for _ in range(400)]
        widths[n] = statistics.fmean(i.half_width for i in trials)
        covered = sum(i.low <= true_mean <= i.high for i in trials) / len(trials)
        assert 0.91 <= covered <= 0.99, (n, covered)
    ordered = [widths[n] for n in sorted(widths)]
    assert ordered == sorted(ordered, reverse=True)
    assert widths[30] < widths[2] / 10


def test_welch_against_a_worked_example() -> None:
    # Welch's t for these samples: t = -1.5667, df = 6.98, two-sided p = 0.161
    result = welch_test([1, 2, 3, 4], [2, 3, 4, 5, 6])
    assert result.t == pytest.approx(-1.56670, abs=1e-4)
    assert result.df == pytest.approx(6.98077, abs=1e-4)
    assert result.p == pytest.approx(0.16129, abs=1e-4)


def test_welch_clear_and_unclear_differences() -> None:
    rng = random.Random(7)
    a = [rng.gauss(10.0, 0.5) for _ in range(8)]
    far = [rng.gauss(12.0, 0.5) for _ in range(8)]
    near = [rng.gauss(10.05, 0.5) for _ in range(8)]
    assert welch_test(a, far).p < 0.001
    assert welch_test(a, near).p > 0.05


def test_welch_degenerate_samples() -> None:
    assert welch_test([1.0], [2.0, 3.0]).p is None
    assert welch_test([2.0, 2.0], [2.0, 2.0]).p == 1.0
    assert welch_test([2.0, 2.0], [3.0, 3.0]).p == 0.0


def test_the_paired_test_sees_a_difference_that_shared_seed_noise_hides() -> None:
    """Common random numbers: two variants that share each seed's noise differ by 0.1
    everywhere; Welch's test cannot see it through the noise, the paired test can."""
    from dcrload.analysis.stats import paired_test

    noise = [1.0, 5.0, 2.0, 8.0, 3.0]
    a = [x + 0.1 for x in noise]
    paired = paired_test(a, noise)
    assert paired.difference.mean == pytest.approx(0.1)
    assert paired.difference.half_width == pytest.approx(0.0, abs=1e-12)
    assert paired.p is not None and paired.p < 1e-12
    assert welch_test(a, noise).p is not None and welch_test(a, noise).p > 0.5
    jitter = [0.1, 0.12, 0.08, 0.11, 0.09]
    b = [x + d for x, d in zip(noise, jitter, strict=True)]
    test = paired_test(b, noise)
    assert test.p is not None and test.p < 0.001
    # against the textbook: mean 0.1, sd 0.0158, t = 0.1 / (0.0158 / sqrt 5) = 14.14
    assert test.t == pytest.approx(14.142, rel=1e-3)
