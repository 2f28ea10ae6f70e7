"""The cyclic garbage collector off for the length of a run.

Nothing a simulation makes is cyclic garbage (plans, streams, counts and the agents' state
are freed by reference counting), so the collector's passes over a run's live objects only
cost time: a fifth of a shard's CPU, measured on 50,000 instances of the default fleet on
2026-12-01. `simulate` and each shard run inside `collector_off()`.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_off() -> Iterator[None]:
    """Disable the collector, and enable it again after if it was on."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
