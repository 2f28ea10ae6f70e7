"""One random scheme: a small stream per (seed, instance, purpose).

Every random draw of a run comes from a stream named by the run's seed, the instance's
index in the fleet and what the draw is for (its sessions, its credential losses, its
clock, ...). So instance 17 installs, launches, loses its credentials and drifts the same
way in `dcrload simulate`, in the load test's prediction and in every variant of a
`dcrload compare` (common random numbers), and a what-if changes only what depends on the
changed field: a different clock leaves every session and every credential loss where it
was.

`Stream` is splitmix64 (Steele, Lea and Flood 2014) with `random.Random`'s distribution
methods borrowed: it holds one integer instead of Mersenne Twister's 2.5 kB, and creating
one costs a fraction of a microsecond, so a million instances can each own several.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import TYPE_CHECKING, Any, Protocol

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
"""splitmix64's increment: a stream's state moves by it at every draw."""
_R = random.Random
_NV_MAGICCONST = 4 * math.exp(-0.5) / math.sqrt(2.0)  # random.py's, for normalvariate

PURPOSES = {
    "usage": 1,  # cohort, first launch, sessions and their lengths, uninstall
    "losses": 2,  # credential losses and reinstalls
    "clock": 3,  # the device clock: offset, skew, steps
    "refresh": 4,  # jitter of the refresh strategy
    "retry": 5,  # jitter of the retry policy
    "rollout": 6,  # when the instance adopts an app update
    "server": 7,  # the server's draws for this instance's requests (service time, TTL jitter)
    "installs": 8,  # the fleet's install times (instance index -1)
    "api": 9,  # the phase of a warm always-on instance's API calls, API interval jitter
    "sample": 10,  # whether a sampled run simulates the instance, and its replicate group
}
"""The purposes a stream serves; each is a separate stream of the same instance."""


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def run_key(seed: int) -> int:
    """The 64-bit key of a run's seed (stable across processes, machines and versions)."""
    digest = hashlib.blake2b(f"dcrload:{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def seed_base(key: int, purpose: str) -> int:
    """What the seeds of one purpose's streams share: the run key and the purpose
    (`stream_seed` adds the instance; `dcrload.model.drawn` seeds many at once from it)."""
    return (key + PURPOSES[purpose] * 0xD1B54A32D192ED03) & MASK


def stream_seed(key: int, index: int, purpose: str) -> int:
    """The seed of one stream: run key, instance index, purpose."""
    return _mix((seed_base(key, purpose) + (index + 2) * GOLDEN) & MASK)


class Stream:
    """A splitmix64 stream with `random.Random`'s distribution methods.

    The distributions (`uniform`, `expovariate`, `gauss`, `lognormvariate`, ...) are
    borrowed from `random.Random`, which builds them on `random()` and `getrandbits()`
    alone; a `random.Random` itself would carry 2.5 kB of Mersenne Twister state.
    """

    __slots__ = ("gauss_next", "state")

    def __init__(self, seed: int) -> None:
        self.state = seed & MASK
        self.gauss_next: float | None = None

    def _next(self) -> int:
        self.state = z = (self.state + GOLDEN) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def random(self) -> float:
        # GOLDEN, MASK and 2**-53 written out: constants, not global lookups (hot path)
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return ((z ^ (z >> 31)) >> 11) * 1.1102230246251565e-16

    # The four draws a simulated day makes most (sessions, their lengths, losses, service
    # times), with the splitmix step written out: random.Random's formulas on the same
    # draws, so the values are those of the borrowed methods (tests/test_streams.py).

    def uniform(self, a: float, b: float) -> float:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return a + (b - a) * (((z ^ (z >> 31)) >> 11) * 1.1102230246251565e-16)

    def expovariate(self, lambd: float) -> float:
        self.state = z = (self.state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
        return -math.log(1.0 - ((z ^ (z >> 31)) >> 11) * 1.1102230246251565e-16) / lambd

    def normalvariate(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        random = self.random
        while True:  # Kinderman and Monahan, as random.Random draws it
            u1 = random()
            u2 = 1.0 - random()
            z = _NV_MAGICCONST * (u1 - 0.5) / u2
            if z * z / 4.0 <= -math.log(u2):
                return mu + z * sigma

    def lognormvariate(self, mu: float, sigma: float) -> float:
        return math.exp(self.normalvariate(mu, sigma))

    def getrandbits(self, k: int) -> int:
        bits, value = 0, 0
        while bits < k:
            value = (value << 64) | self._next()
            bits += 64
        return value >> (bits - k)

    def mark(self) -> tuple[int, float | None, int]:
        """Where the stream is (for `rewind`): a caller that may take its draws back."""
        return self.state, self.gauss_next, 0

    def rewind(self, mark: tuple[int, float | None, int]) -> None:
        """Put the stream back where `mark()` said it was."""
        self.state, self.gauss_next, _ = mark

    if TYPE_CHECKING:  # the borrowed methods, as mypy should see them

        def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float: ...
        def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int: ...
        def randint(self, a: int, b: int) -> int: ...

    else:  # borrowed from random.Random (they call only random() and getrandbits())
        gauss = _R.gauss
        triangular = _R.triangular
        gammavariate = _R.gammavariate
        betavariate = _R.betavariate
        paretovariate = _R.paretovariate
        weibullvariate = _R.weibullvariate
        vonmisesvariate = _R.vonmisesvariate
        randrange = _R.randrange
        randint = _R.randint
        choice = _R.choice
        choices = _R.choices
        shuffle = _R.shuffle
        sample = _R.sample
        _randbelow = _R._randbelow_with_getrandbits


class Drawn(Stream):
    """A stream whose first draws were made in bulk (`dcrload.model.drawn`, with numpy):
    `values` are its first `random()` values and `state` is the stream's state after
    them, so it gives the draws of `Stream(seed)`, one for one, and once the values are
    used up it simply goes on as that stream (tests/test_streams.py). Splitmix64 is a
    counter-based generator, so the first draws of many streams are a few array
    operations instead of a dozen big-integer operations each."""

    __slots__ = ("n", "pos", "seed", "values")

    def __init__(self, seed: int, values: list[float], state_after: int) -> None:
        self.state = state_after
        self.gauss_next = None
        self.seed = seed
        self.values = values
        self.n = len(values)
        self.pos = 0

    # Each draw takes its value from the list inline (a call less per draw: they are a
    # simulated day's most frequent calls) and falls back on the stream's own arithmetic.

    def random(self) -> float:
        pos = self.pos
        if pos < self.n:
            self.pos = pos + 1
            return self.values[pos]
        return Stream.random(self)

    def uniform(self, a: float, b: float) -> float:
        pos = self.pos
        if pos < self.n:
            self.pos = pos + 1
            return a + (b - a) * self.values[pos]
        return Stream.uniform(self, a, b)

    def expovariate(self, lambd: float) -> float:
        pos = self.pos
        if pos < self.n:
            self.pos = pos + 1
            return -math.log(1.0 - self.values[pos]) / lambd
        return Stream.expovariate(self, lambd)

    def normalvariate(self, mu: float = 0.0, sigma: float = 1.0) -> float:
        values = self.values
        while True:  # Stream.normalvariate, two values at a time while they last
            pos = self.pos
            if pos + 1 < self.n:
                u1, u2 = values[pos], 1.0 - values[pos + 1]
                self.pos = pos + 2
            else:
                u1 = self.random()
                u2 = 1.0 - self.random()
            z = _NV_MAGICCONST * (u1 - 0.5) / u2
            if z * z / 4.0 <= -math.log(u2):
                return mu + z * sigma

    def _next(self) -> int:
        pos = self.pos
        if pos < self.n:
            self.pos = pos + 1
            return _mix((self.seed + (pos + 1) * GOLDEN) & MASK)
        return Stream._next(self)

    def mark(self) -> tuple[int, float | None, int]:
        return self.state, self.gauss_next, self.pos

    def rewind(self, mark: tuple[int, float | None, int]) -> None:
        self.state, self.gauss_next, self.pos = mark


class Rng(Protocol):
    """What the draws of dcrload accept: a `random.Random` or a `Stream`."""

    def random(self) -> float: ...
    def uniform(self, a: float, b: float) -> float: ...
    def expovariate(self, lambd: float) -> float: ...
    def gauss(self, mu: float = 0.0, sigma: float = 1.0) -> float: ...
    def lognormvariate(self, mu: float, sigma: float) -> float: ...


class LazyStream:
    """The stream of (key, index, purpose), seeded at its first draw: for the purposes most
    instances never draw from (retries), so a million instances skip the seeding. Draws are
    those of `stream(key, index, purpose)`, one for one."""

    __slots__ = ("_index", "_key", "_purpose", "_stream")

    def __init__(self, key: int, index: int, purpose: str) -> None:
        self._key, self._index, self._purpose = key, index, purpose
        self._stream: Stream | None = None

    def __getattr__(self, name: str) -> Any:  # only names the class lacks: the draws
        if name.startswith("_"):  # an unset slot (copying, unpickling): not a draw
            raise AttributeError(name)
        if self._stream is None:
            self._stream = stream(self._key, self._index, self._purpose)
        return getattr(self._stream, name)


def stream(key: int, index: int, purpose: str) -> Stream:
    """The stream of `purpose` for instance `index` of the run with key `key`."""
    return Stream(stream_seed(key, index, purpose))
