"""`Stream`'s own draws are random.Random's formulas on the same numbers, bit for bit.

`Stream` writes out `uniform`, `expovariate`, `normalvariate` and `lognormvariate` for
speed (the draws a simulated day makes most); every golden file rests on their values
being those of the `random.Random` methods it borrowed before. Each is compared here with
the `random.Random` method called on a twin stream, draw after draw, and the two streams
must stay in step (the rejection loop of `normalvariate` takes a varying number of draws).
"""

from __future__ import annotations

import random

import pytest

from dcrload.core.streams import PURPOSES, Stream, run_key, stream, streams_of

DRAWS = [
    ("uniform", (-3.5, 120.0)),
    ("expovariate", (1.0 / 1500.0,)),
    ("normalvariate", (0.0, 30.0)),
    ("lognormvariate", (7.3, 0.8)),
]


@pytest.mark.parametrize(("name", "arguments"), DRAWS)
def test_written_out_draws_equal_random_randoms(name: str, arguments: tuple[float, ...]) -> None:
    key = run_key(7)
    reference = getattr(random.Random, name)
    for index in range(500):
        mine, twin = stream(key, index, "usage"), stream(key, index, "usage")
        for _ in range(8):
            assert getattr(mine, name)(*arguments) == reference(twin, *arguments)
            assert mine.state == twin.state


def test_draws_interleave_as_before() -> None:
    """A mix of draws from one stream, as a day makes them, against the borrowed methods."""
    mine, twin = Stream(12345), Stream(12345)
    for step in range(3000):
        name, arguments = DRAWS[step * 7 % len(DRAWS)]
        assert getattr(mine, name)(*arguments) == getattr(random.Random, name)(twin, *arguments)
    assert mine.gauss(0.0, 1.0) == twin.gauss(0.0, 1.0)  # still borrowed


def test_a_fresh_zero_seed_draws_what_a_new_random_0_draws() -> None:
    """`own_cycle` plans a strategy's jitter on it instead of building `random.Random(0)`."""
    from dcrload.model.plans import FreshZeroSeed

    for _ in range(3):  # each new one starts again from the first draw
        mine, reference = FreshZeroSeed(), random.Random(0)
        assert [mine.uniform(1.0, 9.0) for _ in range(50)] == [
            reference.uniform(1.0, 9.0) for _ in range(50)
        ]
        assert mine.gauss(0.0, 2.0) == reference.gauss(0.0, 2.0)


@pytest.mark.parametrize("purpose", sorted(PURPOSES))
def test_streams_of_a_purpose_are_the_streams_by_index(purpose: str) -> None:
    """`streams_of(key, purpose)(i)` is `stream(key, i, purpose)`: the same seed, for every
    index a fleet has (the installs' -1 too) and keys near the 64-bit wrap."""
    for key in (run_key(7), 0, (1 << 64) - 1):
        of = streams_of(key, purpose)
        for index in (-1, 0, 1, 17, 999_999, 10**7):
            assert of(index).state == stream(key, index, purpose).state
