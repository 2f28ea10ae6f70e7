"""`dcrload.core.clocks.DeviceClock`: readings of a wrong device clock and their inverse."""

from __future__ import annotations

import pytest

from dcrload.core.clocks import PERFECT, DeviceClock


def test_perfect_clock_reads_true_time() -> None:
    for t in (0.0, 1.5, 86400.0):
        assert PERFECT.wall(t) == t
        assert PERFECT.monotonic(t) == t
        assert PERFECT.when("exp", t, 0.0) == t


def test_offset_moves_the_wall_clock_only() -> None:
    clock = DeviceClock(offset=-600.0)
    assert clock.wall(1000.0) == 400.0
    assert clock.monotonic(1000.0) == 1000.0
    assert clock.reading("exp", 1000.0) == 400.0
    assert clock.reading("expires_in", 1000.0) == 1000.0


def test_skew_moves_both_clocks() -> None:
    clock = DeviceClock(skew_ppm=100.0)  # 100 ppm fast: 8.64 s a day
    assert clock.rate == pytest.approx(1.0001)
    assert clock.monotonic(86400.0) == pytest.approx(86408.64)
    assert clock.wall(86400.0) == pytest.approx(86408.64)


def test_steps_jump_the_wall_clock_from_their_time_on() -> None:
    clock = DeviceClock(steps=((100.0, 3600.0), (200.0, -1800.0)))
    assert clock.wall(99.0) == 99.0
    assert clock.wall(100.0) == 3700.0
    assert clock.wall(250.0) == 250.0 + 1800.0
    assert clock.monotonic(250.0) == 250.0


@pytest.mark.parametrize(
    "clock",
    [
        DeviceClock(offset=-600.0),
        DeviceClock(offset=600.0, skew_ppm=-250.0),
        DeviceClock(skew_ppm=37.0),
        DeviceClock(offset=12.3, skew_ppm=5.0, steps=((500.0, -120.0), (900.0, 60.0))),
    ],
)
@pytest.mark.parametrize("basis", ["exp", "expires_in"])
def test_when_is_the_first_time_the_reading_reaches_the_target(
    clock: DeviceClock, basis: str
) -> None:
    for target in (0.1, 450.0, 777.7, 3600.0, 86400.0 / 3):
        at = clock.when(basis, target, 0.0)
        assert clock.reading(basis, at) >= target
        if at > 0:
            assert clock.reading(basis, at - 1e-6 * max(1.0, at)) < target


def test_when_never_answers_before_after() -> None:
    clock = DeviceClock(offset=600.0)
    assert clock.when("exp", 100.0, 50.0) == 50.0  # already reached: now


def test_a_step_back_can_delay_the_target_past_the_jump() -> None:
    clock = DeviceClock(steps=((100.0, -1000.0),))
    # The reading passes 50 at t=50, but asked after the step it needs t=1050.
    assert clock.when("exp", 50.0, 0.0) == pytest.approx(50.0)
    assert clock.when("exp", 500.0, 120.0) == pytest.approx(1500.0)


def test_a_step_forward_reaches_the_target_at_the_jump() -> None:
    clock = DeviceClock(steps=((100.0, 1000.0),))
    assert clock.when("exp", 500.0, 0.0) == 100.0
    assert clock.when("expires_in", 500.0, 0.0) == 500.0


CLOCKS = [
    PERFECT,
    DeviceClock(offset=30.0),
    DeviceClock(offset=-1e5),
    DeviceClock(skew_ppm=250.0),
    DeviceClock(offset=-12.5, skew_ppm=-40.0),
    DeviceClock(offset=7.0, steps=((100.0, 3600.0), (5000.0, -7200.0))),
    DeviceClock(offset=1e-9, skew_ppm=1e-3),  # inversions that land a hair short
]


@pytest.mark.parametrize("clock", CLOCKS, ids=repr)
@pytest.mark.parametrize("basis", ["exp", "expires_in"])
def test_readers_answer_what_reading_and_when_answer(clock: DeviceClock, basis: str) -> None:
    """`readers(basis)` (the plain day's clock) gives `reading` and `when`, bit for bit."""
    import random

    reading, when = clock.readers(basis)
    rng = random.Random(5)
    for _ in range(2000):
        t = rng.choice([rng.uniform(-1e5, 2e5), rng.uniform(0, 10), float(rng.randrange(9000))])
        target = rng.choice([t + rng.uniform(-100, 21600), rng.uniform(-1e5, 2e5), t])
        assert reading(t) == clock.reading(basis, t)
        assert when(target, t) == clock.when(basis, target, t)
    if clock.reads_true_time(basis):
        assert reading(123.25) == 123.25
