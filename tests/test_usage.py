"""Session starts: `Diurnal.next_start` against the plain hour-by-hour inversion.

`next_start` skips the hours that surely cannot hold the start without dividing; what it
returns must still be, bit for bit, what stepping every hour returns, on any day shape
(zero hours included), from any time (on an hour boundary, a hair before or after one).
"""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from dcrload.model.usage import HOUR, Diurnal
from tests.generated import suite_settings


def stepped(diurnal: Diurnal, after: float, need: float) -> float:
    """The inversion hour by hour, every hour with its division (the reference)."""
    t, hour = after, int(after // HOUR)
    while True:
        hour_end = (hour + 1) * HOUR
        rate = diurnal.rates[hour % 24]
        if rate > 0:
            span = need / rate
            if t + span < hour_end:
                return t + span
            need -= (hour_end - t) * rate
        t, hour = hour_end, hour + 1


class Fixed:
    """An rng whose only draw is the given exponential value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def expovariate(self, lambd: float) -> float:
        return self.value


weights = st.lists(st.one_of(st.just(0.0), st.floats(0.01, 50.0)), min_size=24, max_size=24).filter(
    lambda w: sum(w) > 0
)
afters = st.one_of(
    st.floats(0.0, 10 * 86400.0),
    st.integers(0, 240).map(lambda h: h * HOUR),
    st.integers(1, 240).map(lambda h: math.nextafter(h * HOUR, 0.0)),
)
needs = st.one_of(st.floats(0.0, 40.0), st.floats(1e-12, 1e-3))


@suite_settings("DCRLOAD_USAGE_EXAMPLES", 150)
@given(weights, st.floats(0.1, 50.0), afters, needs)
def test_next_start_is_the_hour_by_hour_inversion(
    shape: list[float], per_day: float, after: float, need: float
) -> None:
    diurnal = Diurnal(per_day, tuple(shape))
    assert diurnal.next_start(after, Fixed(need)) == stepped(diurnal, after, need)


def test_next_start_on_the_shipped_day_shape_from_many_draws() -> None:
    """The default scenario's shape, 20,000 draws a minute apart: the same starts."""
    evening = (1, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5, 7, 9, 10, 8, 5, 2)
    diurnal = Diurnal(3.0, tuple(w / (sum(evening) / 24) for w in evening))
    rng = random.Random(11)
    for k in range(20_000):
        need = rng.expovariate(1.0)
        assert diurnal.next_start(k * 60.0, Fixed(need)) == stepped(diurnal, k * 60.0, need)
