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

from dcrload.core.streams import Stream, run_key, stream

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


def _draws(rng: Stream) -> list[float]:
    """Every kind of draw, interleaved, past a handful of pre-drawn values."""
    out: list[float] = []
    for _ in range(4):
        out += [rng.random(), rng.uniform(-3.0, 9.0), rng.expovariate(0.5)]
        out += [rng.gauss(1.0, 2.0), rng.normalvariate(0.0, 1.0), rng.lognormvariate(0.0, 0.8)]
        out += [float(rng.getrandbits(70)), float(rng.randrange(1000))]
    return out


@pytest.mark.parametrize("k", [0, 1, 5, 64])
def test_drawn_streams_draw_what_their_streams_draw(k: int) -> None:
    """`drawn_streams` (numpy, first k draws made at once) gives each index the draws of
    `stream(key, index, purpose)`, one for one, before and after its k values run out."""
    from dcrload.model.drawn import drawn_streams

    indices = [-1, 0, 1, 2, 17, 1023, 999_999, 10**7]
    for key in (run_key(7), (1 << 64) - 1):
        for purpose in ("usage", "server"):
            drawn = drawn_streams(key, purpose, indices, k)
            for index, rng in zip(indices, drawn, strict=True):
                assert _draws(rng) == _draws(stream(key, index, purpose)), (index, k)


def test_a_drawn_stream_rewinds_to_its_mark() -> None:
    """`mark`/`rewind` take draws back, inside the pre-drawn values and past them (the
    plain day puts the usage stream back when it gives up)."""
    from dcrload.model.drawn import drawn_streams

    for k in (3, 40):
        (rng,) = drawn_streams(run_key(7), "usage", [5], k)
        rng.random()
        mark = rng.mark()
        first = _draws(rng)
        rng.rewind(mark)
        assert _draws(rng) == first
    plain = stream(run_key(7), 5, "usage")
    mark = plain.mark()
    first = _draws(plain)
    plain.rewind(mark)
    assert _draws(plain) == first
