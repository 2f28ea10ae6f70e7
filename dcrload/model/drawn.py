"""The first draws of many instances' streams at once, with numpy.

Splitmix64 is counter-based: the j-th output of the stream seeded s is mix(s + j·γ) mod
2^64, so the first k draws of a thousand streams are a handful of uint64 array operations
(which wrap mod 2^64 as the Python code masks), not a dozen big-integer operations per
draw in the interpreter (a sampled run's `sample` draws are made the same way).
`drawn_streams` returns `Drawn` streams that hand those values
out and then go on as `Stream(seed)` would; `tests/test_streams.py` holds them to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dcrload.core.streams import GOLDEN, MASK, Drawn, seed_base


def first_draws(key: int, purpose: str, indices: Any, k: int) -> tuple[Any, Any, Any]:
    """(seeds, the first `k` `random()` values of each stream, the states after them)
    of `stream(key, i, purpose)` for each i in `indices`, as numpy arrays."""
    import numpy as np  # only runs that draw in bulk pay for loading it

    index = np.asarray(indices, dtype=np.int64) + 2
    if len(index) and index.min() < 0:
        raise ValueError("stream indices start at -1")
    golden = np.uint64(GOLDEN)
    seeds = _mix(np.uint64(seed_base(key, purpose)) + index.astype(np.uint64) * golden)
    steps = np.arange(1, k + 1, dtype=np.uint64) * golden
    values = (_mix(seeds[:, None] + steps[None, :]) >> np.uint64(11)).astype(np.float64)
    values *= 2.0**-53
    return seeds, values, seeds + np.uint64((k * GOLDEN) & MASK)


def drawn_streams(key: int, purpose: str, indices: Sequence[int], k: int) -> list[Drawn]:
    """`stream(key, i, purpose)` for each i in `indices`, with its first `k` draws made."""
    if not len(indices):
        return []
    seeds, values, after = first_draws(key, purpose, indices, k)
    return [
        Drawn(seed, drawn, state)
        for seed, drawn, state in zip(seeds.tolist(), values.tolist(), after.tolist(), strict=True)
    ]


def _mix(z: Any) -> Any:
    """splitmix64's output function on an array of uint64 (multiplications wrap)."""
    import numpy as np

    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
